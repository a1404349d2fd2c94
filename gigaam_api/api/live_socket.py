"""What both live sockets share (`api/realtime.py`, `api/ws_transcribe.py`): admission, the session cap,
one writer, idle and duration limits, and the end: buffered speech is always transcribed.

A protocol (`LiveProtocol`) turns the client's messages into calls on a live session and the session's
events into messages; this module runs it. Every message leaves through one writer task, in order. When
the client goes away, the session still finishes: what it had buffered is transcribed, and finals that
can no longer be sent are logged and counted (`gigaam_live_utterances_total{delivered="no"}`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.responses import JSONResponse
from starlette.websockets import WebSocket, WebSocketDisconnect

from gigaam_api.api.live_auth import Admitted, admit
from gigaam_api.api.state import AppState
from gigaam_api.errors import APIError, busy
from gigaam_api.live.events import BacklogFullError, Final, LiveEvent, LiveSession

log = logging.getLogger(__name__)

Message = dict[str, Any]
TRY_AGAIN_LATER = 1013  # WebSocket close code: the server is at its limit
POLICY_VIOLATION = 1008
# Messages waiting for a client that reads slower than the server answers; past this the server stops
# reading the client's messages (TCP pushes back on it) instead of holding more in memory.
OUTBOX_LIMIT = 64


class LiveProtocol(Protocol):
    def greeting(self) -> list[Message]:
        """What the socket sends first (session.created, or the simple protocol's ready message)."""
        ...

    async def on_text(self, text: str, link: Link) -> None: ...

    async def on_bytes(self, data: bytes, link: Link) -> None: ...

    def render(self, event: LiveEvent) -> list[Message]: ...

    def error(self, error: APIError, event_id: str | None = None) -> Message: ...


@dataclass
class _Outgoing:
    message: Message
    final: Final | None = None  # a final's text is logged if it cannot be sent


class Link:
    """One accepted socket: its writer, and (once audio comes) its live session's event forwarding.

    A message the client does not take within `send_timeout` (it stopped reading) ends the delivery: the
    client counts as gone, so the session still ends, and its finals are logged instead."""

    def __init__(
        self,
        websocket: WebSocket,
        protocol: LiveProtocol,
        on_final: Callable[[bool], None],
        send_timeout: float,
    ) -> None:
        self._websocket = websocket
        self._protocol = protocol
        self._on_final = on_final
        self._send_timeout = send_timeout
        self._outbox: asyncio.Queue[_Outgoing | None] = asyncio.Queue()
        self._progress = asyncio.Event()  # set each time the writer has dealt with a message
        self._writer = asyncio.ensure_future(self._write())
        self._forward: asyncio.Task[None] | None = None
        self.connected = True
        self.session: LiveSession | None = None

    def send(self, message: Message) -> None:
        self._outbox.put_nowait(_Outgoing(message))

    @property
    def waiting(self) -> int:
        """Messages not yet written to the client."""
        return self._outbox.qsize()

    async def room(self) -> None:
        """Wait while more than OUTBOX_LIMIT messages wait for a connected client."""
        while self.connected and self.waiting > OUTBOX_LIMIT:
            self._progress.clear()
            await self._progress.wait()

    def attach(self, session: LiveSession) -> None:
        self.session = session
        self._forward = asyncio.ensure_future(self._forward_events(session))

    async def _forward_events(self, session: LiveSession) -> None:
        async for event in session.events():
            final = event if isinstance(event, Final) else None
            for message in self._protocol.render(event):
                self._outbox.put_nowait(_Outgoing(message, final))
                final = None  # counted once, with its first message

    async def _write(self) -> None:
        while (outgoing := await self._outbox.get()) is not None:
            if self.connected:
                try:
                    async with asyncio.timeout(self._send_timeout):
                        await self._websocket.send_json(outgoing.message)
                except TimeoutError:
                    log.info(
                        "live socket: the client took no message for %g s; delivery ends", self._send_timeout
                    )
                    self.connected = False
                except (WebSocketDisconnect, RuntimeError, OSError):
                    self.connected = False
            if outgoing.final is not None:
                self._report(outgoing.final, delivered=self.connected)
            self._progress.set()

    def _report(self, final: Final, *, delivered: bool) -> None:
        self._on_final(delivered)
        if not delivered:
            log.info(
                "live %s: %.1f s of speech transcribed after the client left (%d characters)",
                final.item_id,
                final.seconds,
                len(final.text),
            )
            log.debug("live %s after the client left: %s", final.item_id, final.text)

    async def end(self) -> None:
        """Transcribe what the session buffered, deliver (or log) every result, release everything."""
        session = self.session
        try:
            if session is not None:
                await session.finish()
                if self._forward is not None:
                    await self._forward
        finally:
            if session is not None:
                await session.aclose()
            self._outbox.put_nowait(None)
            await self._writer


async def deny(websocket: WebSocket, status: int, error: APIError) -> None:
    """Refuse the handshake with an HTTP error in OpenAI's envelope (browsers see a failed socket)."""
    response = JSONResponse(error.body(), status_code=status, headers=error.headers)
    await websocket.send_denial_response(response)


def admitted(websocket: WebSocket, state: AppState) -> Admitted | None:
    return admit(
        websocket.headers.get("authorization", ""),
        websocket.scope.get("subprotocols", []),
        state.settings.API_KEY,
    )


def unavailable(state: AppState) -> APIError | None:
    """Why no live socket can open now (live transcription off, the model still loading), if so."""
    if state.settings.LIVE_MAX_SESSIONS == 0:
        return APIError(
            503, "Live transcription is off on this server (LIVE_MAX_SESSIONS=0).", code="live_disabled"
        )
    if state.transcriber is None:
        return busy("The model is still loading; retry shortly.", "model_loading", retry_after=5)
    return None


def unauthorized() -> APIError:
    return APIError(
        401,
        "Missing or incorrect API key: send `Authorization: Bearer <key>`, or (browsers) the subprotocol "
        "`openai-insecure-api-key.<key or client secret>`.",
        code="invalid_api_key",
    )


async def serve(
    websocket: WebSocket,
    state: AppState,
    protocol: LiveProtocol,
    *,
    subprotocol: str | None,
    on_final: Callable[[bool], None],
) -> None:
    """Run one accepted socket to its end, within the session cap and the idle and duration limits."""
    settings = state.settings
    await websocket.accept(subprotocol=subprotocol)
    if not state.live_slots.take(settings.LIVE_MAX_SESSIONS):
        refusal = APIError(
            503,
            f"The server already has {settings.LIVE_MAX_SESSIONS} live sessions (LIVE_MAX_SESSIONS); "
            "retry later.",
            type="server_error",
            code="too_many_sessions",
        )
        await websocket.send_json(protocol.error(refusal))
        await websocket.close(TRY_AGAIN_LATER)
        return
    link = Link(websocket, protocol, on_final, send_timeout=settings.LIVE_IDLE_SECONDS)
    ending: APIError | None = None
    try:
        for message in protocol.greeting():
            link.send(message)
        ending = await _receive(
            websocket, protocol, link, settings.LIVE_IDLE_SECONDS, settings.LIVE_MAX_SESSION_SECONDS
        )
        if ending is not None:
            link.send(protocol.error(ending))
    finally:
        try:  # on every way out, a bug's included: what was buffered is transcribed, the lane given back
            await link.end()
        finally:
            state.live_slots.leave()
            if link.connected:
                with contextlib.suppress(RuntimeError, OSError):
                    await websocket.close(POLICY_VIOLATION if ending is not None else 1000)


async def _receive(
    websocket: WebSocket, protocol: LiveProtocol, link: Link, idle: float, longest: float
) -> APIError | None:
    """Hand every message to the protocol until the client leaves (None) or a limit ends the session."""
    try:
        async with asyncio.timeout(longest) as whole:
            while True:
                await link.room()  # a client that does not read its answers is not read either
                if not link.connected:
                    return None
                try:
                    async with asyncio.timeout(idle):
                        message = await websocket.receive()
                except TimeoutError:
                    if whole.expired():
                        raise
                    return APIError(
                        408,
                        f"No message for {idle:g} s (LIVE_IDLE_SECONDS): the session is closed.",
                        code="idle_timeout",
                    )
                if message["type"] == "websocket.disconnect":
                    link.connected = False
                    return None
                if message.get("text") is not None:
                    await protocol.on_text(message["text"], link)
                elif message.get("bytes") is not None:
                    await protocol.on_bytes(message["bytes"], link)
    except TimeoutError:
        return APIError(
            408,
            f"The session reached its longest duration, {longest:g} s (LIVE_MAX_SESSION_SECONDS); its "
            "buffered speech is transcribed and the socket closed.",
            code="session_expired",
        )
    except BacklogFullError as exc:
        return APIError(429, f"{exc}.", type="invalid_request_error", code="input_audio_buffer_overflow")
