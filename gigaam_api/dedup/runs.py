"""Which run a transcription request reads: one in flight with the same key, the cache, or a new one.

Everything here runs on the event loop, so the table of runs in flight needs no lock: a request
claims its key before its first `await`, and an identical request arriving while the first is still
waiting for a running slot or for decoding to start attaches to it rather than starting another.

A run its last client left lingers for the grace period so that a retry can attach, but never at the
expense of a request waiting in line: each one waiting gets an orphaned run stopped (the longest
orphaned first), so the grace never holds running slots for nobody.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from functools import partial

from gigaam_api.dedup import codec
from gigaam_api.dedup.cache import ResultCache
from gigaam_api.dedup.shared import SharedRun, Subscription
from gigaam_api.metrics import Metrics
from gigaam_api.pipeline.protocol import Run

log = logging.getLogger(__name__)

# Starts the real run; what it must undo when the run ends (its slot, the run) goes on the stack.
Start = Callable[[AsyncExitStack], Awaitable[Run]]


class SharedRuns:
    def __init__(
        self,
        *,
        share: bool,
        grace_seconds: float,
        cache: ResultCache | None,
        metrics: Metrics | None = None,
        waiting: Callable[[], int] = lambda: 0,
    ) -> None:
        """`waiting()`: how many requests wait in line for a running slot (`Admission.waiting`)."""
        self._share = share
        self._grace_seconds = grace_seconds if share else 0.0  # nobody could attach to a lingering run
        self._cache = cache
        self._metrics = metrics or Metrics()
        self._waiting = waiting
        self._running: dict[str, SharedRun] = {}

    @property
    def enabled(self) -> bool:
        """Whether requests need a key at all."""
        return self._share or self._cache is not None

    @property
    def in_flight(self) -> int:
        """Shared runs not yet finished with (running, lingering, or storing their result)."""
        return len(self._running)

    @property
    def clients(self) -> int:
        """Requests attached to the shared runs in flight."""
        return sum(shared.clients for shared in self._running.values())

    async def open(
        self, key: str | None, start: Start, stack: AsyncExitStack, cancelled: asyncio.Event | None = None
    ) -> Run:
        """The run this request reads; its clean-up (detaching) is pushed onto `stack`.

        A request that starts a run hands everything on `stack` so far (its spool files) to the run,
        which may outlive it; one that attaches or is answered from the cache keeps its own. If
        `cancelled` is set when the request detaches, the run gets no grace period for a retry; set
        while an attached request waits for the run to start, it returns at once (the caller sees it).
        """
        if key is None:
            return await start(stack)
        shared = self._running.get(key)
        if shared is not None and shared.joinable:
            self._metrics.dedup_attached.inc()
            subscription = shared.subscribe(cancelled)
            stack.push_async_callback(subscription.aclose)
            await _started_unless_cancelled(subscription, cancelled)
            return subscription
        return await self._first(key, start, stack, cancelled)

    async def _first(
        self, key: str, start: Start, stack: AsyncExitStack, cancelled: asyncio.Event | None
    ) -> Subscription:
        shared = SharedRun(
            grace_seconds=self._grace_seconds,
            on_result=partial(self._store, key) if self._cache is not None else None,
            on_end=lambda: self._forget(key, shared),
            on_orphaned=self.make_room,
        )
        if self._share:
            self._running[key] = shared
        subscription = shared.subscribe(cancelled)
        try:
            cached = await self._cached(key)
            if cached is not None:
                shared.complete(cached)
                self._forget(key, shared)
            else:
                run = await start(stack)
                shared.begin(run, stack.pop_all())
        except BaseException as exc:
            shared.fail(exc)
            self._forget(key, shared)
            raise
        stack.push_async_callback(subscription.aclose)
        return subscription

    async def _cached(self, key: str) -> codec.Result | None:
        if self._cache is None:
            return None
        try:
            data = await asyncio.to_thread(self._cache.get, key)
            result = None if data is None else codec.decode(data)
        except codec.CorruptEntryError:
            log.warning("dropped an unreadable result cache entry")
            await asyncio.to_thread(self._cache.discard, key)
            result = None
        except Exception:
            log.warning("the result cache could not be read; transcribing instead", exc_info=True)
            result = None
        (self._metrics.cache_misses if result is None else self._metrics.cache_hits).inc()
        return result

    async def _store(self, key: str, result: codec.Result) -> None:
        assert self._cache is not None
        try:
            await asyncio.to_thread(self._cache.put, key, codec.encode(result))
        except Exception:
            log.warning("the result cache could not be written", exc_info=True)

    def make_room(self) -> None:
        """Stop orphaned runs for the requests waiting in line (one each, beyond those already stopping).

        Called when a request joins the line and when a run loses its last client.
        """
        runs = self._running.values()
        wanted = self._waiting() - sum(1 for shared in runs if shared.stopping)
        orphans = sorted((s for s in runs if s.orphaned), key=lambda s: s.orphaned_at or 0.0)
        for shared in orphans[: max(wanted, 0)]:
            log.info("a request waits for a running slot: stopping a run nobody is attached to")
            shared.halt()

    def _forget(self, key: str, shared: SharedRun) -> None:
        """Drop the table's entry for `key` if it is `shared` (a newer run may have replaced it)."""
        if self._running.get(key) is shared:
            del self._running[key]

    async def aclose(self) -> None:
        """Stop every run still in flight (shutdown): lingering ones have nobody to wait for them."""
        for shared in list(self._running.values()):
            await shared.stop()


async def _started_unless_cancelled(subscription: Subscription, cancelled: asyncio.Event | None) -> None:
    """Wait for the run to start (raising its start's error), or until the request is cancelled."""
    if cancelled is None:
        await subscription.started()
        return
    started = asyncio.ensure_future(subscription.started())
    cancel = asyncio.ensure_future(cancelled.wait())
    try:
        await asyncio.wait({started, cancel}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (started, cancel):
            task.cancel()
        await asyncio.gather(started, cancel, return_exceptions=True)
    if not started.cancelled():
        started.result()
