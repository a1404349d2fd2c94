"""One log line per interval, not per attempt, while the server cannot accept connections (EMFILE).

When the process is out of file descriptors, asyncio logs a traceback for every failed `accept()`, and
on Python 3.11 its accept loop goes on for `backlog` (2048) attempts per turn, each scheduling a retry:
a server at its open-file limit wrote 145 MB of log in 40 s. This loop exception handler reports the
first failure at once and then at most one line per interval, with the number of failures in between;
every other exception goes to the handler that was there before.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

ACCEPT_ERROR = "socket.accept() out of system resource"  # asyncio's message (selector_events.py)
REPORT_INTERVAL_SECONDS = 60.0

Handler = Callable[[asyncio.AbstractEventLoop, dict[str, Any]], object]


class AcceptErrorLog:
    """A loop exception handler: accept failures are counted and reported once per `interval`."""

    def __init__(
        self,
        previous: Handler | None,
        interval: float = REPORT_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._previous = previous
        self._interval = interval
        self._clock = clock
        self._reported_at: float | None = None
        self._unreported = 0

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if context.get("message") != ACCEPT_ERROR:
            if self._previous is not None:
                self._previous(loop, context)
            else:
                loop.default_exception_handler(context)
            return
        self._unreported += 1
        now = self._clock()
        if self._reported_at is not None and now - self._reported_at < self._interval:
            return
        exc = context.get("exception")
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        log.error(
            "cannot accept new connections: %s (%d failed accept(s) since the last report; at most one "
            "report per %g s). Raise the open-file limit (ulimit -n) or lower MAX_CONNECTIONS.",
            reason,
            self._unreported,
            self._interval,
        )
        self._reported_at = now
        self._unreported = 0


def install(loop: asyncio.AbstractEventLoop) -> None:
    """Route `loop`'s accept failures through an `AcceptErrorLog`."""
    loop.set_exception_handler(AcceptErrorLog(loop.get_exception_handler()))
