"""The server's event loop: accepting connections at the open-file limit without flooding the log.

When the process is out of file descriptors (EMFILE), asyncio logs a traceback for every failed
`accept()`, and on Python < 3.13 its accept loop goes on after the first failure, up to `backlog` (2048)
attempts a turn, each scheduling its own retry (CPython gh-151615): a server at its open-file limit
wrote 145 MB of log in 40 s. `ServerEventLoop` stops a turn's accepting at the first such failure (the
upstream fix), and `AcceptErrorLog` reports the first failure at once and then at most one line per
interval with the number of failures in between; every other exception is logged as asyncio would.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

ACCEPT_ERROR = "socket.accept() out of system resource"  # asyncio's message (selector_events.py)
REPORT_INTERVAL_SECONDS = 60.0
_RESOURCE_ERRNOS = frozenset((errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM))


class AcceptErrorLog:
    """A loop exception handler: accept failures are counted and reported once per `interval`."""

    def __init__(
        self, interval: float = REPORT_INTERVAL_SECONDS, clock: Callable[[], float] = time.monotonic
    ):
        self._interval = interval
        self._clock = clock
        self._reported_at: float | None = None
        self._unreported = 0

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if context.get("message") != ACCEPT_ERROR:
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


class _OneFailure:
    """A listening socket whose `accept()` says "nothing more" once an accept has run out of resources,
    which ends asyncio's accept loop for this turn (its retry is already scheduled)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._failed = False

    def accept(self) -> tuple[socket.socket, Any]:
        if self._failed:
            raise BlockingIOError
        try:
            return self.sock.accept()
        except OSError as exc:
            self._failed = exc.errno in _RESOURCE_ERRNOS
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sock, name)


class ServerEventLoop(asyncio.SelectorEventLoop):
    """asyncio's loop with the fix of CPython gh-151615 (Python 3.13+ has it) and `AcceptErrorLog`."""

    def __init__(self) -> None:
        super().__init__()
        self.set_exception_handler(AcceptErrorLog())

    def _accept_connection(self, protocol_factory: Any, sock: Any, *args: Any, **kwargs: Any) -> None:
        listener = sock.sock if isinstance(sock, _OneFailure) else sock
        super()._accept_connection(protocol_factory, _OneFailure(listener), *args, **kwargs)  # type: ignore[misc]

    def _start_serving(self, protocol_factory: Any, sock: Any, *args: Any, **kwargs: Any) -> None:
        if sock.fileno() == -1:
            return  # the server closed while an accept retry was pending
        super()._start_serving(protocol_factory, sock, *args, **kwargs)  # type: ignore[misc]


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvicorn's loop factory (`loop="gigaam_api.api.event_loop:new_event_loop"`)."""
    return ServerEventLoop()
