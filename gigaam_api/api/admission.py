"""Admission control: running slots (MAX_QUEUE) and upload slots (MAX_UPLOADS), both cheap and lock-protected.

A request holds an upload slot while its body streams in and takes a running slot only once the
upload is complete, so clients that upload slowly can never keep others from being transcribed.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class QueueFullError(Exception):
    """MAX_QUEUE requests are already admitted."""


class TooManyUploadsError(Exception):
    """MAX_UPLOADS uploads are already streaming in."""


class Admission:
    """Counts admitted requests (running + waiting) against a limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._count = 0
        self._closed = False
        self._lock = threading.Lock()

    @property
    def count(self) -> int:
        return self._count

    def check(self) -> None:
        """Raise `QueueFullError` if `enter` would fail now, without taking a slot."""
        with self._lock:
            if self._closed or self._count >= self.limit:
                raise QueueFullError

    def enter(self) -> None:
        with self._lock:
            if self._closed or self._count >= self.limit:
                raise QueueFullError
            self._count += 1

    def leave(self) -> None:
        with self._lock:
            self._count -= 1

    def close(self) -> None:
        """Stop admitting (shutdown): every later `enter` fails."""
        with self._lock:
            self._closed = True


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
