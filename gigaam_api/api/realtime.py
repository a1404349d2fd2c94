"""OpenAI's Realtime API, transcription sessions: `GET /v1/realtime?intent=transcription` (WebSocket) and
`POST /v1/realtime/client_secrets` (a short-lived secret for browsers). docs/realtime.md.

The socket speaks OpenAI's events; `api/live_socket.py` runs it and `live/session.py` does the work.
"""

from __future__ import annotations

import binascii
import secrets
import time
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.websockets import WebSocket

from gigaam_api.api import live_socket
from gigaam_api.api.live_auth import mint_secret
from gigaam_api.api.live_socket import Link, Message
from gigaam_api.api.realtime_session import SessionSettings, error_fields, session_object, update
from gigaam_api.api.state import AppState
from gigaam_api.api.strict_json import loads_strict
from gigaam_api.errors import APIError, bad_request
from gigaam_api.live.events import (
    Committed,
    Failed,
    Final,
    LiveEvent,
    LiveLimits,
    LiveSession,
    Partial,
    SpeechStarted,
    SpeechStopped,
)
from gigaam_api.metrics import Metrics
from gigaam_api.options.transcription import TranscriptionOptions

router = APIRouter()

MIN_SECRET_SECONDS, MAX_SECRET_SECONDS = 10, 7200  # OpenAI's range for expires_after.seconds
# What a client may send; everything else of OpenAI's (responses, conversation items) has no meaning here.
CLIENT_EVENTS = (
    "session.update",
    "input_audio_buffer.append",
    "input_audio_buffer.commit",
    "input_audio_buffer.clear",
)


def limits(state: AppState) -> LiveLimits:
    s = state.settings
    return LiveLimits(
        max_utterance_seconds=s.LIVE_MAX_UTTERANCE_SECONDS,
        max_backlog_seconds=s.LIVE_MAX_BACKLOG_SECONDS,
        partial_seconds=s.LIVE_PARTIAL_SECONDS,
    )


def live_state(websocket: WebSocket) -> AppState:
    state: AppState = websocket.app.state.gigaam
    return state


def count_final(websocket: WebSocket) -> Callable[[bool], None]:
    """Counts each live final in `gigaam_live_utterances_total`, by whether the client got it."""
    metrics: Metrics = websocket.app.state.metrics

    def count(delivered: bool) -> None:
        metrics.live_utterances.labels("yes" if delivered else "no").inc()

    return count


@router.websocket("/v1/realtime")
async def realtime(websocket: WebSocket) -> None:
    state = live_state(websocket)
    admitted = live_socket.admitted(websocket, state)
    if admitted is None:
        await live_socket.deny(websocket, 401, live_socket.unauthorized())
        return
    if websocket.query_params.get("intent") != "transcription":
        error = bad_request(
            "This server runs transcription sessions only: connect to /v1/realtime?intent=transcription.",
            param="intent",
            code="invalid_intent",
        )
        await live_socket.deny(websocket, 400, error)
        return
    unavailable = live_socket.unavailable(state)
    if unavailable is not None:
        await live_socket.deny(websocket, 503, unavailable)
        return
    settings = SessionSettings(model=_served_name(state, websocket.query_params.get("model")))
    if admitted.session is not None:
        settings = update(settings, admitted.session)  # checked when the secret was minted
    protocol = RealtimeProtocol(state, settings)
    await live_socket.serve(
        websocket, state, protocol, subprotocol=admitted.subprotocol, on_final=count_final(websocket)
    )


@router.post("/v1/realtime/client_secrets")
async def create_client_secret(request: Request) -> Response:
    """OpenAI's GA shape: `{value: "ek_…", expires_at, session}`; the secret opens one or more sockets
    until it expires, with `session` as their starting settings. Authenticated like every API route.
    Refused as the socket would be when no live socket can open (live transcription off, model loading)."""
    state: AppState = request.app.state.gigaam
    unavailable = live_socket.unavailable(state)
    if unavailable is not None:
        raise unavailable
    body = loads_strict(await request.body()) if await request.body() else {}
    if not isinstance(body, dict):
        raise bad_request("The body must be a JSON object.")
    seconds = state.settings.LIVE_CLIENT_SECRET_SECONDS
    expires = body.get("expires_after")
    if expires is not None:
        given = expires.get("seconds") if isinstance(expires, dict) else None
        if (
            isinstance(given, bool)
            or not isinstance(given, int)
            or not MIN_SECRET_SECONDS <= given <= MAX_SECRET_SECONDS
        ):
            raise bad_request(
                f"expires_after.seconds must be an integer from {MIN_SECRET_SECONDS} to "
                f"{MAX_SECRET_SECONDS}.",
                param="expires_after.seconds",
                code="invalid_value",
            )
        seconds = given
    session = body.get("session", {"type": "transcription"})
    settings = update(SessionSettings(), session)
    transcriber, _ = state.plan(_request_options(settings))
    expires_at = int(time.time()) + seconds
    shown = session_object(settings, transcriber.capabilities.model_id)
    answer = {
        "value": mint_secret(session, expires_at, state.settings.API_KEY),
        "expires_at": expires_at,
        "session": {
            "id": f"sess_{secrets.token_hex(12)}",
            "object": "realtime.transcription_session",
            "expires_at": expires_at,
            **shown,
        },
    }
    return JSONResponse(answer)


def _served_name(state: AppState, model: str | None) -> str | None:
    """The connect URL's `model` if this server serves it (or it is an alias); OpenAI ignores it for
    transcription sessions too, so another name (say, a realtime model) falls back to the default."""
    if model is None:
        return None
    try:
        state.plan(TranscriptionOptions(model=model))
    except APIError:
        return None
    return model


def _request_options(settings: SessionSettings) -> TranscriptionOptions:
    return TranscriptionOptions(model=settings.model, language=settings.language, prompt=settings.prompt)


def _event_id() -> str:
    return f"event_{secrets.token_hex(10)}"


class RealtimeProtocol:
    """OpenAI's events over one socket; the live session opens with the first audio."""

    def __init__(self, state: AppState, settings: SessionSettings) -> None:
        self._state = state
        self._settings = settings
        self._transcriber, self._options = state.plan(_request_options(settings))

    def greeting(self) -> list[Message]:
        return [self._session_event("session.created")]

    def _session_event(self, kind: str) -> Message:
        session = session_object(self._settings, self._transcriber.capabilities.model_id)
        return {"type": kind, "event_id": _event_id(), "session": session}

    def error(self, error: APIError, event_id: str | None = None) -> Message:
        return {
            "type": "error",
            "event_id": _event_id(),
            "error": {**error_fields(error), "event_id": event_id},
        }

    async def on_bytes(self, data: bytes, link: Link) -> None:
        link.send(
            self.error(
                bad_request(
                    "Binary frames are not part of this protocol: send audio as input_audio_buffer.append "
                    "events (base64), or raw PCM to /ws/transcribe.",
                    code="invalid_frame",
                )
            )
        )

    async def on_text(self, text: str, link: Link) -> None:
        event_id: str | None = None
        try:
            event = loads_strict(text.encode())
            if not isinstance(event, dict) or not isinstance(event.get("type"), str):
                raise bad_request(
                    "An event must be a JSON object with a string `type`.", param="type", code="invalid_event"
                )
            given_id = event.get("event_id")
            event_id = given_id if isinstance(given_id, str) else None
            await self._handle(event, link)
        except APIError as error:
            if error.code is None and error.status == 400:
                error = bad_request(error.message, param=error.param, code="invalid_json")
            link.send(self.error(error, event_id))

    async def _handle(self, event: dict[str, Any], link: Link) -> None:
        kind = event["type"]
        if kind == "session.update":
            self._update(event.get("session"), link)
        elif kind == "input_audio_buffer.append":
            audio = event.get("audio")
            if not isinstance(audio, str):
                raise bad_request("audio must be a base64 string.", param="audio", code="invalid_type")
            try:
                data = binascii.a2b_base64(audio, strict_mode=True)
            except binascii.Error:
                raise bad_request(
                    "audio is not valid base64.", param="audio", code="invalid_base64"
                ) from None
            await self._session(link).append(data)
        elif kind == "input_audio_buffer.commit":
            if link.session is None or await link.session.commit() is None:
                raise bad_request(
                    "The input audio buffer is empty: append audio before committing.",
                    code="input_audio_buffer_commit_empty",
                )
        elif kind == "input_audio_buffer.clear":
            if link.session is not None:
                link.session.clear()
            link.send({"type": "input_audio_buffer.cleared", "event_id": _event_id()})
        else:
            raise bad_request(
                f"Unsupported event type {kind!r}: a transcription session takes {', '.join(CLIENT_EVENTS)}.",
                param="type",
                code="invalid_event_type",
            )

    def _update(self, session: object, link: Link) -> None:
        settings = update(self._settings, session)
        try:
            transcriber, options = self._state.plan(_request_options(settings))
        except APIError as error:  # a model or language this server does not serve
            where = f"session.audio.input.transcription.{error.param}" if error.param else None
            raise APIError(
                error.status, error.message, param=where, code=error.code or "invalid_value"
            ) from None
        if link.session is not None and transcriber is not self._transcriber:
            raise bad_request(
                "A session's model is chosen before its first audio; open a new session for another one.",
                param="session.audio.input.transcription.model",
                code="model_change_not_supported",
            )
        self._settings, self._transcriber, self._options = settings, transcriber, options
        if link.session is not None:
            link.session.configure(settings.live, options)
        link.send(self._session_event("session.updated"))

    def _session(self, link: Link) -> LiveSession:
        if link.session is None:
            link.attach(self._transcriber.open_live(self._options, self._settings.live, limits(self._state)))
        assert link.session is not None
        return link.session

    def render(self, event: LiveEvent) -> list[Message]:
        return render(event)


def render(event: LiveEvent) -> list[Message]:
    """A live session's event as OpenAI's server events (a partial that adds no text sends none)."""
    messages: list[Message] = []
    match event:
        case SpeechStarted(item_id, audio_ms):
            messages.append(
                _event("input_audio_buffer.speech_started", item_id=item_id, audio_start_ms=audio_ms)
            )
        case SpeechStopped(item_id, audio_ms):
            messages.append(
                _event("input_audio_buffer.speech_stopped", item_id=item_id, audio_end_ms=audio_ms)
            )
        case Committed(item_id, previous, _):
            messages.append(
                _event("input_audio_buffer.committed", item_id=item_id, previous_item_id=previous)
            )
            messages.append(
                _event("conversation.item.added", item=_item(item_id, None), previous_item_id=previous)
            )
        case Partial(item_id, delta, _) if delta:
            messages.append(
                _event(
                    "conversation.item.input_audio_transcription.delta",
                    item_id=item_id,
                    content_index=0,
                    delta=delta,
                )
            )
        case Final(item_id, text, seconds, _):
            messages.append(
                _event(
                    "conversation.item.input_audio_transcription.completed",
                    item_id=item_id,
                    content_index=0,
                    transcript=text,
                    usage={"type": "duration", "seconds": round(seconds, 3)},
                )
            )
            messages.append(_event("conversation.item.done", item=_item(item_id, text)))
        case Failed(item_id, message):
            error = {
                "type": "server_error",
                "code": "transcription_failed",
                "message": message,
                "param": None,
            }
            messages.append(
                _event(
                    "conversation.item.input_audio_transcription.failed",
                    item_id=item_id,
                    content_index=0,
                    error=error,
                )
            )
    return messages


def _event(kind: str, **fields: Any) -> Message:
    return {"type": kind, "event_id": _event_id(), **fields}


def _item(item_id: str, transcript: str | None) -> Message:
    return {
        "id": item_id,
        "object": "realtime.item",
        "type": "message",
        "role": "user",
        "status": "completed",
        "content": [{"type": "input_audio", "transcript": transcript}],
    }
