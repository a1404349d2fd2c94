"""Graceful shutdown: refuse new requests, give running ones the grace period, then end the rest clearly.

`GracefulShutdown.begin()` (the server calls it on SIGTERM) starts draining: new requests get 503
`shutting_down` at once, running ones get SHUTDOWN_GRACE_SECONDS. When the grace is over, `expired` is
set: an SSE stream sends an error event and ends (`api/transcriptions.py`), and any other request whose
response has not started yet (an upload still arriving, a non-streaming transcription) is cancelled and
answered 503 by `ShutdownMiddleware`. Only when no request is left does the server stop, so uvicorn never
has to cut a connection or cancel a task itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gigaam_api.errors import APIError, busy

log = logging.getLogger(__name__)

# Liveness answers until the end: a probe must not restart a server that is finishing its work.
UNTRACKED_PATHS = frozenset({"/health"})
# A cancel (`DELETE /v1/audio/transcriptions/{id}`) is answered while draining too: it ends work the
# drain would otherwise wait for.
CANCEL_PREFIX = "/v1/audio/transcriptions/"
# After the grace period, how long cancelled requests may take to wind down (join threads, remove files).
SETTLE_SECONDS = 10.0


def shutting_down() -> APIError:
    return busy(
        "The server is shutting down; retry the request shortly.", "shutting_down", retry_after=10, close=True
    )


class GracefulShutdown:
    """Counts requests in flight and runs the drain; lives on the event loop of the server."""

    def __init__(self, grace_seconds: float, *, on_draining: Callable[[], None] | None = None) -> None:
        self.grace_seconds = grace_seconds
        self._on_draining = [on_draining] if on_draining is not None else []  # called when the drain begins
        self.draining = False
        self.expired = asyncio.Event()
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._drain: asyncio.Task[None] | None = None

    def when_draining(self, callback: Callable[[], None]) -> None:
        """Call `callback` on the loop too when the drain begins."""
        self._on_draining.append(callback)

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """The loop `begin` schedules the drain on (the server's, taken at start-up)."""
        self._loop = loop

    def begin(self, on_drained: Callable[[], None]) -> None:
        """Start draining; call `on_drained` once no request is left. Safe from a signal handler."""
        if self._loop is None:  # not serving yet: nothing to drain
            on_drained()
            return
        self._loop.call_soon_threadsafe(self._start, on_drained)

    def _start(self, on_drained: Callable[[], None]) -> None:
        if self._drain is None:
            self._drain = asyncio.ensure_future(self._run(on_drained))

    async def _run(self, on_drained: Callable[[], None]) -> None:
        self.draining = True
        for callback in self._on_draining:
            callback()
        log.info(
            "shutting down: new requests are refused; %d running get up to %g s",
            self._in_flight,
            self.grace_seconds,
        )
        try:
            if not await _wait(self._idle, self.grace_seconds):
                log.warning(
                    "grace period over: ending %d request(s) with 503 / an SSE error", self._in_flight
                )
                self.expired.set()
                if not await _wait(self._idle, SETTLE_SECONDS):
                    log.error("%d request(s) still running after the grace period", self._in_flight)
        finally:
            on_drained()

    @contextmanager
    def track(self) -> Iterator[None]:
        self._in_flight += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()


async def _wait(event: asyncio.Event, timeout: float) -> bool:
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
    except TimeoutError:
        return False
    return True


class ShutdownMiddleware:
    """Refuses requests while draining; answers 503 for those not yet responding when the grace ends."""

    def __init__(self, app: ASGIApp, shutdown: GracefulShutdown) -> None:
        self.app = app
        self.shutdown = shutdown

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in UNTRACKED_PATHS or _is_cancel(scope):
            await self.app(scope, receive, send)
            return
        if self.shutdown.draining:
            await _refuse(scope, receive, send)
            return
        with self.shutdown.track():
            await self._run_until_expired(scope, receive, send)

    async def _run_until_expired(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def watch_start(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        handler = asyncio.ensure_future(self.app(scope, receive, watch_start))
        expired = asyncio.ensure_future(self.shutdown.expired.wait())
        try:
            await asyncio.wait({handler, expired}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            handler.cancel()
            raise
        finally:
            expired.cancel()
        if not handler.done() and not started:
            # The handler's own clean-up (files, the run's threads) runs while it unwinds.
            handler.cancel()
            await asyncio.wait({handler})
            failure = None if handler.cancelled() else handler.exception()
            if failure is not None:
                log.error("request failed while it was being ended for shutdown", exc_info=failure)
            if not started:
                await _refuse(scope, receive, send)
                return
        await handler


def _is_cancel(scope: Scope) -> bool:
    return bool(scope["method"] == "DELETE" and scope["path"].startswith(CANCEL_PREFIX))


async def _refuse(scope: Scope, receive: Receive, send: Send) -> None:
    error = shutting_down()
    await JSONResponse(error.body(), status_code=error.status, headers=error.headers)(scope, receive, send)
