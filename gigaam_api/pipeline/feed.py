"""A blocking iterator run on its own thread, consumed from the event loop as items arrive.

With `max_ahead`, the producer waits while that many of its items are not yet `consumed`: a VAD that
ran through a whole hour of audio at once would take a core from the first inference batches (on two
cores, the first segment of a 1-hour stream came 2 s later); bounded, its work is spread over the run.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

T = TypeVar("T")


class _End:
    """Marks the end of the items; carries the producer's exception, if it failed."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


WAIT_SECONDS = 0.5  # how often a producer held back by `max_ahead` re-checks `stop`


class ThreadFeed(Generic[T]):
    """Runs `produce()` on a daemon thread (with the caller's context, so log lines keep the request id)."""

    def __init__(
        self,
        produce: Callable[[], Iterable[T]],
        name: str,
        *,
        max_ahead: int | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[T | _End] = asyncio.Queue()
        self._ended: _End | None = None
        self._room = None if max_ahead is None else threading.Semaphore(max_ahead)
        self._stop = stop or threading.Event()
        context = contextvars.copy_context()
        self.thread = threading.Thread(target=context.run, args=(self._pump, produce), name=name, daemon=True)
        self.thread.start()

    def _pump(self, produce: Callable[[], Iterable[T]]) -> None:
        end = _End()
        try:
            for item in produce():
                if not self._wait_for_room():
                    break
                self._loop.call_soon_threadsafe(self._queue.put_nowait, item)
        except BaseException as exc:
            end = _End(exc)
        self._loop.call_soon_threadsafe(self._queue.put_nowait, end)

    def _wait_for_room(self) -> bool:
        """Whether there is room for one more item (False once `stop` is set while waiting for it)."""
        if self._room is None:
            return True
        while not self._room.acquire(timeout=WAIT_SECONDS):
            if self._stop.is_set():
                return False
        return True

    def consumed(self, count: int) -> None:
        """`count` items are dealt with: the producer may run that many further ahead."""
        if self._room is not None:
            for _ in range(count):
                self._room.release()

    @property
    def ended(self) -> bool:
        """The producer is done and every item has been taken."""
        return self._ended is not None

    async def next(self) -> T | None:
        """The next item, waiting for it; None once the producer is done (raises what it raised)."""
        if self._ended is None:
            item = await self._queue.get()
            if not isinstance(item, _End):
                return item
            self._ended = item
        if self._ended.error is not None:
            raise self._ended.error
        return None

    def ready(self) -> list[T]:
        """The items that have already arrived, without waiting (the end, if seen, is left to `next`)."""
        items: list[T] = []
        while self._ended is None and not self._queue.empty():
            item = self._queue.get_nowait()
            if isinstance(item, _End):
                self._ended = item
            else:
                items.append(item)
        return items
