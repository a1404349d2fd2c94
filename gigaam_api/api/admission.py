"""Admission control: running slots (MAX_RUNNING) with a FIFO line in front (MAX_WAITING), and upload slots.

A request holds an upload slot while its body streams in and joins the line only once the upload is
complete, so clients that upload slowly can never keep others from being transcribed. In the line it
holds nothing but its stored upload; a running slot is what costs (decoder and VAD threads, the PCM
spool, batches): only MAX_RUNNING requests have one. The line is first come, first served; once running,
short requests go first (`pipeline/scheduler.py`).
"""

from __future__ import annotations

import asyncio
import ipaddress
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class QueueFullError(Exception):
    """MAX_RUNNING requests run and MAX_WAITING wait: there is no place left in the line."""


class LineClosedError(Exception):
    """The server is shutting down: nobody joins the line and whoever waits in it is sent away."""


class Admission:
    """Running slots and the line of requests waiting for one; used from the event loop only.

    `on_wait(seconds)` hears how long each request waited for its running slot (0 when one was free);
    `on_queued()` is called whenever a request has to join the line (so idle holders can make room).
    """

    def __init__(
        self,
        running_limit: int,
        waiting_limit: int,
        *,
        on_wait: Callable[[float], None] | None = None,
        on_queued: Callable[[], None] | None = None,
    ) -> None:
        self.running_limit = running_limit
        self.waiting_limit = waiting_limit
        self.running = 0
        self._line: deque[asyncio.Future[None]] = deque()
        self._closed = False
        self._on_wait = on_wait
        self._on_queued = on_queued

    @property
    def waiting(self) -> int:
        return len(self._line)

    @property
    def count(self) -> int:
        """Admitted requests: running and waiting."""
        return self.running + self.waiting

    @property
    def limit(self) -> int:
        return self.running_limit + self.waiting_limit

    def check(self) -> None:
        """Raise if `enter` would be refused now (no place in the line, or closed), without taking one."""
        if self._closed:
            raise LineClosedError
        if self.count >= self.limit:
            raise QueueFullError

    async def enter(self) -> None:
        """Take a running slot, waiting in line for one (FIFO); the caller must `leave()` after.

        Cancelled while waiting, the request leaves the line (and passes on a slot granted meanwhile).
        """
        self.check()
        began = time.monotonic()
        if self.running < self.running_limit and not self._line:
            self.running += 1
        else:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._line.append(waiter)
            if self._on_queued is not None:
                self._on_queued()
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                    self.leave()  # the slot was granted just as the request gave up
                raise
            finally:
                if waiter in self._line:
                    self._line.remove(waiter)
        if self._on_wait is not None:
            self._on_wait(time.monotonic() - began)

    def leave(self) -> None:
        """Give a running slot back: the first request in line takes it."""
        self.running -= 1
        while self._line and self.running < self.running_limit:
            waiter = self._line.popleft()
            if not waiter.done():  # a cancelled waiter is skipped
                waiter.set_result(None)
                self.running += 1

    def close(self) -> None:
        """Stop admitting (shutdown): every later `enter` fails and every waiting request is sent away."""
        self._closed = True
        while self._line:
            waiter = self._line.popleft()
            if not waiter.done():
                waiter.set_exception(LineClosedError())


class TooManyUploadsError(Exception):
    """MAX_UPLOADS uploads are already streaming in."""


class ClientUploadsError(Exception):
    """This client address already streams its share of the upload slots (UPLOADS_PER_CLIENT_SHARE)."""


def client_key(host: str | None) -> str:
    """What uploads are counted by per client: the IPv4 address, or the IPv6 /64 (one subscriber's net).

    Behind a reverse proxy this is the address uvicorn takes from X-Forwarded-For, which it trusts only
    from FORWARDED_ALLOW_IPS (default 127.0.0.1).
    """
    try:
        address = ipaddress.ip_address(host or "")
    except ValueError:
        return host or ""  # a Unix socket's peer, or a name: counted as given
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


# How long an upload runs before its average rate may mark it the slowest: a newcomer's first second
# says little, a trickle's does.
JUDGED_AFTER_SECONDS = 1.0


class UploadSlot:
    """One upload in progress; `add` records the bytes it has stored so far.

    `cut` turns True when a newcomer took this slot (`UploadSlots`): the upload must end. A slot that is
    not `cuttable` (the server's own download of a job's URL, which has its own timeout) is never taken.
    """

    def __init__(self, client: str, started: float, *, cuttable: bool = True) -> None:
        self.client = client
        self.started = started
        self.cuttable = cuttable
        self.stored_bytes = 0
        self.cut = False

    def add(self, nbytes: int) -> None:
        self.stored_bytes += nbytes

    def rate(self, now: float) -> float:
        """Average bytes per second so far."""
        return self.stored_bytes / max(now - self.started, 1e-9)


class UploadSlots:
    """At most `limit` uploads stream in at once, at most `per_client` of them from one client address.

    With every slot taken, a newcomer takes the slot of the slowest upload that has run for at least
    JUDGED_AFTER_SECONDS and averages under `slow_rate` (UPLOAD_BUSY_MIN_BYTES_PER_SECOND), which is cut;
    so clients trickling from many addresses, reconnecting as soon as they are cut, cannot keep
    everyone else out. Their number, stored bytes and the share of slots taken (`load`) are observable.
    """

    def __init__(
        self,
        limit: int,
        *,
        per_client: int | None = None,
        slow_rate: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.per_client = limit if per_client is None else per_client
        self.slow_rate = slow_rate
        self._clock = clock
        self._active: set[UploadSlot] = set()
        self._by_client: Counter[str] = Counter()
        self._lock = threading.Lock()

    @property
    def count(self) -> int:
        return len(self._active)

    @property
    def load(self) -> float:
        """The share of upload slots taken, 0 to 1."""
        return len(self._active) / self.limit

    @property
    def stored_bytes(self) -> int:
        with self._lock:
            return sum(slot.stored_bytes for slot in self._active)

    @contextmanager
    def slot(self, client: str = "", *, cuttable: bool = True) -> Iterator[UploadSlot]:
        """Hold an upload slot for the duration of the block, counted against `client` (`client_key`).

        `TooManyUploadsError` if no slot is free nor held by a slow upload, `ClientUploadsError` if that
        client already holds `per_client` of them. `cuttable=False`: a newcomer may not take this slot.
        """
        now = self._clock()
        slot = UploadSlot(client, now, cuttable=cuttable)
        with self._lock:
            victim = self._slowest(now) if len(self._active) >= self.limit else None
            if len(self._active) >= self.limit and victim is None:
                raise TooManyUploadsError
            if self._by_client[client] >= self.per_client:
                raise ClientUploadsError
            if victim is not None:
                victim.cut = True
                self._release(victim)
            self._active.add(slot)
            self._by_client[client] += 1
        try:
            yield slot
        finally:
            with self._lock:
                if not slot.cut:
                    self._release(slot)

    def _slowest(self, now: float) -> UploadSlot | None:
        judged = [s for s in self._active if s.cuttable and now - s.started >= JUDGED_AFTER_SECONDS]
        slowest = min(judged, key=lambda s: s.rate(now), default=None)
        return slowest if slowest is not None and slowest.rate(now) < self.slow_rate else None

    def _release(self, slot: UploadSlot) -> None:
        self._active.discard(slot)
        self._by_client[slot.client] -= 1
        if not self._by_client[slot.client]:
            del self._by_client[slot.client]
