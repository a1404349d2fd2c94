"""Connections under the app: uvicorn's h11 protocol with a request-head deadline and a connection cap.

uvicorn (0.54) closes a connection only when it idles after a response (`timeout_keep_alive`, cancelled
by any byte): one that never sends a byte, or sends its request head a byte at a time, stays open for
ever and holds a file descriptor. Here every request head has a deadline, HEADER_TIMEOUT_SECONDS from the
moment the server waits for it (the connection opened, or the previous response ended), however the
bytes trickle in; past it the connection is closed. The body has its own limits (`api/request_body.py`).

At most MAX_CONNECTIONS are open: past that, the connection that has waited longest for a request head
is closed to make room (as nginx reuses idle keep-alive connections), never one with a request in
progress. So idle sockets cannot use up the process's file descriptors (EMFILE) before real requests.
"""

from __future__ import annotations

import asyncio
import resource
from typing import Any, ClassVar

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from gigaam_api.config import Settings

# The rest of the open-file limit is for what requests open: spool files, the job store, model files.
_CONNECTION_SHARE_OF_FILES = 0.75


class HeadTimeoutProtocol(H11Protocol):
    """One connection; `protocol_class` makes a subclass with a server's limits and its waiting set."""

    head_timeout: ClassVar[float]
    max_connections: ClassVar[int]
    # Connections waiting for a request head, oldest first (a dict keeps insertion order).
    waiting: ClassVar[dict[HeadTimeoutProtocol, None]]

    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self._follow_state()
        self._make_room()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_waiting()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        super().handle_events()
        self._follow_state()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._follow_state()

    def _follow_state(self) -> None:
        """Start the head deadline when the server begins waiting for a request; stop it once one came."""
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            if self._head_timer is None:
                self._head_timer = self.loop.call_later(self.head_timeout, self._close_waiting)
                self.waiting[self] = None
        else:
            self._stop_waiting()

    def _stop_waiting(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        self.waiting.pop(self, None)

    def _close_waiting(self) -> None:
        self._stop_waiting()
        if not self.transport.is_closing():
            self.transport.close()

    def _make_room(self) -> None:
        while len(self.connections) > self.max_connections:
            oldest = next((c for c in self.waiting if c is not self), None)
            if oldest is None:
                return  # every other connection has a request in progress
            oldest._close_waiting()
            self.connections.discard(oldest)  # its connection_lost comes on a later loop turn


def protocol_class(head_timeout: float, max_connections: int) -> type[HeadTimeoutProtocol]:
    """The protocol class for one server (its own set of waiting connections)."""
    return type(
        "ServerProtocol",
        (HeadTimeoutProtocol,),
        {"head_timeout": head_timeout, "max_connections": max_connections, "waiting": {}},
    )


def connection_limit(settings: Settings) -> int:
    """MAX_CONNECTIONS, or by default three quarters of the process's open-file limit."""
    if settings.MAX_CONNECTIONS is not None:
        return settings.MAX_CONNECTIONS
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(1, int(soft * _CONNECTION_SHARE_OF_FILES)) if soft != resource.RLIM_INFINITY else 1 << 20


def server_config(app: Any, settings: Settings, **options: Any) -> uvicorn.Config:
    """uvicorn's Config for serving `app` with these settings; `options` override (tests pick a port)."""
    chosen: dict[str, Any] = {
        "host": settings.HOST,
        "port": settings.PORT,
        "log_config": None,
        "loop": "gigaam_api.api.event_loop:new_event_loop",
    }
    chosen.update(options)
    http = protocol_class(settings.HEADER_TIMEOUT_SECONDS, connection_limit(settings))
    return uvicorn.Config(app, http=http, **chosen)
