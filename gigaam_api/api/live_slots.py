"""The cap on live sockets open at once (LIVE_MAX_SESSIONS)."""

from __future__ import annotations


class LiveSlots:
    """Live sockets open now; used on the event loop only, so no lock."""

    def __init__(self) -> None:
        self.open = 0

    def take(self, limit: int) -> bool:
        if self.open >= limit:
            return False
        self.open += 1
        return True

    def leave(self) -> None:
        self.open -= 1
