"""`/ws/transcribe`: the Qwen3-ASR server's simple live protocol, on the same sessions as /v1/realtime.

In: binary frames of raw PCM16 LE mono at 16 kHz; JSON text messages `{"type": "flush"}` (transcribe
what is buffered now), `{"type": "reset"}` (drop it), `{"type": "config", ...}` (language, VAD). The
Qwen3-ASR server's `{"action": ...}` spelling is taken too. Out: `ready` once, then `partial` and
`final` results and `error`s, all JSON. docs/realtime.md describes every field.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from fastapi import APIRouter
from starlette.websockets import WebSocket

from gigaam_api.api import live_socket
from gigaam_api.api.live_socket import Link, Message
from gigaam_api.api.realtime import count_final, limits, live_state
from gigaam_api.api.state import AppState
from gigaam_api.api.strict_json import loads_strict
from gigaam_api.audio.rate import SAMPLE_RATE
from gigaam_api.errors import APIError, bad_request
from gigaam_api.live.events import Final, Flushed, LiveConfig, LiveEvent, LiveSession, Partial, TurnDetection
from gigaam_api.options.transcription import TranscriptionOptions

router = APIRouter()

CONFIG_KEYS = ("language", "model", "vad", "threshold", "silence_duration_ms", "prefix_padding_ms")


@router.websocket("/ws/transcribe")
async def ws_transcribe(websocket: WebSocket) -> None:
    state = live_state(websocket)
    admitted = live_socket.admitted(websocket, state)
    if admitted is None:
        await live_socket.deny(websocket, 401, live_socket.unauthorized())
        return
    unavailable = live_socket.unavailable(state)
    if unavailable is not None:
        await live_socket.deny(websocket, 503, unavailable)
        return
    protocol = SimpleProtocol(state)
    await live_socket.serve(
        websocket, state, protocol, subprotocol=admitted.subprotocol, on_final=count_final(websocket)
    )


class SimpleProtocol:
    def __init__(self, state: AppState) -> None:
        self._state = state
        self._live = LiveConfig(input_format="pcm16", sample_rate=SAMPLE_RATE, turns=TurnDetection())
        self._request = TranscriptionOptions()
        self._transcriber, self._options = state.plan(self._request)

    def greeting(self) -> list[Message]:
        return [{"type": "ready", "status": "connected", "sample_rate": SAMPLE_RATE, "format": "pcm_s16le"}]

    def error(self, error: APIError, event_id: str | None = None) -> Message:
        return {"type": "error", **error.body()}

    async def on_bytes(self, data: bytes, link: Link) -> None:
        await self._session(link).append(data)

    async def on_text(self, text: str, link: Link) -> None:
        try:
            message = loads_strict(text.encode())
            kind = message.get("type", message.get("action")) if isinstance(message, dict) else None
            if not isinstance(message, dict) or not isinstance(kind, str):
                raise bad_request(
                    'A control message is a JSON object with a `type`: "flush", "reset" or "config".',
                    param="type",
                    code="invalid_message",
                )
            if kind == "flush":
                await self._session(link).flush()
            elif kind == "reset":
                if link.session is not None:
                    link.session.clear()
                link.send({"type": "reset"})
            elif kind == "config":
                self._configure(message, link)
            else:
                raise bad_request(
                    f'Unknown message type {kind!r}: use "flush", "reset" or "config".',
                    param="type",
                    code="invalid_message",
                )
        except APIError as error:
            link.send(self.error(error))

    def _configure(self, message: dict[str, Any], link: Link) -> None:
        unknown = sorted(set(message) - {"type", "action", *CONFIG_KEYS})
        if unknown:
            raise bad_request(
                f"Unknown config field {unknown[0]!r}.", param=unknown[0], code="invalid_config"
            )
        request = dataclasses.replace(
            self._request,
            language=_text(message, "language", self._request.language),
            model=_text(message, "model", self._request.model),
        )
        transcriber, options = self._state.plan(request)
        if link.session is not None and transcriber is not self._transcriber:
            raise bad_request(
                "The model is chosen before the first audio; open a new socket for another one.",
                param="model",
                code="model_change_not_supported",
            )
        live = dataclasses.replace(self._live, turns=_turns(message, self._live.turns))
        self._request, self._transcriber, self._options, self._live = request, transcriber, options, live
        if link.session is not None:
            link.session.configure(live, options)
        turns = live.turns
        link.send(
            {
                "type": "config",
                "model": transcriber.capabilities.model_id,
                "language": request.language,
                "vad": turns is not None,
                "threshold": turns.threshold if turns else None,
                "silence_duration_ms": turns.silence_ms if turns else None,
                "prefix_padding_ms": turns.prefix_ms if turns else None,
            }
        )

    def _session(self, link: Link) -> LiveSession:
        if link.session is None:
            link.attach(self._transcriber.open_live(self._options, self._live, limits(self._state)))
        assert link.session is not None
        return link.session

    def render(self, event: LiveEvent) -> list[Message]:
        if isinstance(event, Partial):
            return [
                {
                    "type": "partial",
                    "item_id": event.item_id,
                    "text": event.text,
                    "is_partial": True,
                    "is_final": False,
                }
            ]
        if isinstance(event, Final):
            start = round(event.start_seconds, 3)
            return [
                {
                    "type": "final",
                    "item_id": event.item_id,
                    "text": event.text,
                    "start": start,
                    "end": round(event.start_seconds + event.seconds, 3),
                    "is_partial": False,
                    "is_final": True,
                }
            ]
        if isinstance(event, Flushed) and event.empty:
            return [
                {
                    "type": "final",
                    "item_id": None,
                    "text": "",
                    "start": None,
                    "end": None,
                    "is_partial": False,
                    "is_final": True,
                }
            ]
        return []


def _turns(message: dict[str, Any], current: TurnDetection | None) -> TurnDetection | None:
    """The VAD after a config message: `vad: false` commits only on flush; the knobs change the rest."""
    vad = message.get("vad", current is not None)
    if not isinstance(vad, bool):
        raise bad_request("vad must be true or false.", param="vad", code="invalid_config")
    if not vad:
        return None
    base = current or TurnDetection()
    changes: dict[str, Any] = {}
    for key, field, low, high in (
        ("threshold", "threshold", 0.0, 1.0),
        ("silence_duration_ms", "silence_ms", 32, 10_000),
        ("prefix_padding_ms", "prefix_ms", 0, 1_000),
    ):
        if key in message:
            value = message[key]
            if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
                raise bad_request(
                    f"{key} must be a number from {low:g} to {high:g}.", param=key, code="invalid_config"
                )
            changes[field] = value if field == "threshold" else int(value)
    return dataclasses.replace(base, **changes)


def _text(message: dict[str, Any], key: str, current: str | None) -> str | None:
    if key not in message:
        return current
    value = message[key]
    if value is not None and not isinstance(value, str):
        raise bad_request(f"{key} must be a string or null.", param=key, code="invalid_config")
    return value or None
