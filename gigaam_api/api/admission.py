"""Admission control: running slots (MAX_RUNNING) with a FIFO line in front (MAX_WAITING), and upload slots.

A request holds an upload slot while its body streams in and joins the line only once the upload is
complete, so clients that upload slowly can never keep others from being transcribed. In the line it
holds nothing but its stored upload; a running slot is what costs (decoder and VAD threads, the PCM
spool, batches): only MAX_RUNNING requests have one. The line is first come, first served; once running,
short requests go first (`pipeline/scheduler.py`).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
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


class UploadSlot:
    """One upload in progress; `add` records the bytes it has stored so far."""

    def __init__(self) -> None:
        self.stored_bytes = 0

    def add(self, nbytes: int) -> None:
        self.stored_bytes += nbytes


class UploadSlots:
    """At most `limit` uploads stream in at once; their number and stored bytes are observable."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._active: set[UploadSlot] = set()
        self._lock = threading.Lock()

    @property
    def count(self) -> int:
        return len(self._active)

    @property
    def stored_bytes(self) -> int:
        with self._lock:
            return sum(slot.stored_bytes for slot in self._active)

    @contextmanager
    def slot(self) -> Iterator[UploadSlot]:
        """Hold an upload slot for the duration of the block; `TooManyUploadsError` if none is free."""
        slot = UploadSlot()
        with self._lock:
            if len(self._active) >= self.limit:
                raise TooManyUploadsError
            self._active.add(slot)
        try:
            yield slot
        finally:
            with self._lock:
                self._active.discard(slot)
