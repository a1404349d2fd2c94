"""Admission control: how many transcriptions the server takes on at once (running + waiting)."""

from __future__ import annotations

import threading


class QueueFullError(Exception):
    """More than MAX_QUEUE requests are admitted."""


class Admission:
    """Counts admitted requests (running + waiting) against a limit; cheap and lock-protected."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._count = 0
        self._closed = False
        self._lock = threading.Lock()

    @property
    def count(self) -> int:
        return self._count

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
