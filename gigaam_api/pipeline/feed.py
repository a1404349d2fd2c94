"""A blocking iterator run on its own thread, consumed from the event loop as items arrive."""

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


class ThreadFeed(Generic[T]):
    """Runs `produce()` on a daemon thread (with the caller's context, so log lines keep the request id)."""

    def __init__(self, produce: Callable[[], Iterable[T]], name: str) -> None:
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[T | _End] = asyncio.Queue()
        self._ended: _End | None = None
        context = contextvars.copy_context()
        self.thread = threading.Thread(target=context.run, args=(self._pump, produce), name=name, daemon=True)
        self.thread.start()

    def _pump(self, produce: Callable[[], Iterable[T]]) -> None:
        end = _End()
        try:
            for item in produce():
                self._loop.call_soon_threadsafe(self._queue.put_nowait, item)
        except BaseException as exc:
            end = _End(exc)
        self._loop.call_soon_threadsafe(self._queue.put_nowait, end)

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
