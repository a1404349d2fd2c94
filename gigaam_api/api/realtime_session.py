"""OpenAI's transcription session object: `session.update` in, `session.created`/`updated` out.

A pure translation between OpenAI's JSON and `live.events.LiveConfig`; the session object sent back has
exactly the fields of `openai.types.realtime.RealtimeTranscriptionSessionCreateRequest`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from gigaam_api.errors import APIError, bad_request
from gigaam_api.live.events import InputFormat, LiveConfig, TurnDetection

# `audio/pcm` is 24 kHz in OpenAI's API; this server also takes these rates (an extension).
PCM_RATES = (8_000, 16_000, 24_000, 48_000)
FORMATS: dict[str, InputFormat] = {"audio/pcm": "pcm16", "audio/pcmu": "pcmu", "audio/pcma": "pcma"}
_FORMAT_NAMES = {value: key for key, value in FORMATS.items()}
SESSION = "session"
_VAD_FIELDS = ("type", "threshold", "silence_duration_ms", "prefix_padding_ms")
_NO_RESPONSES = ("create_response", "interrupt_response")  # accepted, meaningless without responses
_UNSUPPORTED = ("delay", "keywords", "languages")  # OpenAI's, for its own transcription models
_INPUT = "session.audio.input"


@dataclass(frozen=True, slots=True)
class SessionSettings:
    """What a transcription session is set to: the live config plus the request options for the model."""

    live: LiveConfig = field(default_factory=LiveConfig)
    model: str | None = None  # as the client named it (None: the server's default)
    language: str | None = None
    prompt: str | None = None


def update(current: SessionSettings, session: object) -> SessionSettings:
    """`current` with a `session.update`'s session applied (fields left out stay); a 400 APIError with the
    offending `param` for anything this server cannot honour."""
    body = _known(session, SESSION, ("type", "audio", "include"))
    kind = body.get("type")
    if kind != "transcription":
        raise bad_request(
            "This server runs transcription sessions only: set session.type to 'transcription'.",
            param="session.type",
            code="invalid_value",
        )
    audio = _known(body.get("audio", {}), "session.audio", ("input",))
    given = _known(
        audio.get("input", {}), _INPUT, ("format", "noise_reduction", "transcription", "turn_detection")
    )
    live = current.live
    result = current
    if "format" in given:
        live = dataclasses.replace(live, **_format(given["format"]))
    if "turn_detection" in given:
        live = dataclasses.replace(live, turns=_turns(given["turn_detection"]))
    if "transcription" in given and given["transcription"] is not None:
        param = f"{_INPUT}.transcription"
        transcription = _known(given["transcription"], param, ("model", "language", "prompt", *_UNSUPPORTED))
        for key in _UNSUPPORTED:
            if key in transcription:
                raise bad_request(
                    f"{key} is not supported by this server's models: leave it out.",
                    param=f"{param}.{key}",
                    code="unsupported_value",
                )
        result = dataclasses.replace(
            result,
            model=_text(transcription, "model", result.model),
            language=_text(transcription, "language", result.language),
            prompt=_text(transcription, "prompt", result.prompt),
        )
    noise = given.get("noise_reduction")
    if noise is not None:
        raise bad_request(
            "Noise reduction is not available: send noise_reduction null or leave it out.",
            param=f"{_INPUT}.noise_reduction",
            code="unsupported_value",
        )
    if body.get("include"):
        raise bad_request(
            "Log probabilities are not sent in live sessions: leave include out.",
            param="session.include",
            code="unsupported_value",
        )
    return dataclasses.replace(result, live=live)


def session_object(settings: SessionSettings, model: str) -> dict[str, Any]:
    """The session as `session.created`/`session.updated` carry it; `model` is the served model's id."""
    live = settings.live
    fmt: dict[str, Any] = {"type": _FORMAT_NAMES[live.input_format]}
    if live.input_format == "pcm16":
        fmt["rate"] = live.sample_rate
    turns = live.turns
    return {
        "type": "transcription",
        "audio": {
            "input": {
                "format": fmt,
                "noise_reduction": None,
                "transcription": {"model": model, "language": settings.language, "prompt": settings.prompt},
                "turn_detection": None
                if turns is None
                else {
                    "type": "server_vad",
                    "threshold": turns.threshold,
                    "prefix_padding_ms": turns.prefix_ms,
                    "silence_duration_ms": turns.silence_ms,
                },
            }
        },
        "include": None,
    }


def _format(value: object) -> dict[str, Any]:
    param = f"{_INPUT}.format"
    given = _known(value, param, ("type", "rate"))
    name = given.get("type", "audio/pcm")
    if name not in FORMATS:
        raise bad_request(
            f"Unsupported audio format {name!r}: use one of {', '.join(FORMATS)}.",
            param=f"{param}.type",
            code="invalid_value",
        )
    fmt = FORMATS[name]
    if fmt != "pcm16":
        return {"input_format": fmt, "sample_rate": 8_000}
    rate = given.get("rate", 24_000)
    if isinstance(rate, bool) or rate not in PCM_RATES:
        raise bad_request(
            f"Unsupported rate {rate!r} for audio/pcm: use one of {', '.join(map(str, PCM_RATES))}.",
            param=f"{param}.rate",
            code="invalid_value",
        )
    return {"input_format": fmt, "sample_rate": int(rate)}


def _turns(value: object) -> TurnDetection | None:
    param = f"{_INPUT}.turn_detection"
    if value is None:
        return None
    given = _known(value, param, (*_VAD_FIELDS, *_NO_RESPONSES, "idle_timeout_ms"))
    if given.get("type", "server_vad") != "server_vad":
        raise bad_request(
            f"Unsupported turn detection {given.get('type')!r}: use server_vad, or null to commit manually.",
            param=f"{param}.type",
            code="invalid_value",
        )
    if given.get("idle_timeout_ms") is not None:
        # OpenAI commits the silence and makes a model response after it; a transcription server has
        # no responses to make, and committing silence would only add empty items.
        raise bad_request(
            "idle_timeout_ms is not supported: this server makes no model responses; send null or leave it "
            "out (LIVE_IDLE_SECONDS closes a socket that sends nothing).",
            param=f"{param}.idle_timeout_ms",
            code="unsupported_value",
        )
    for key in _NO_RESPONSES:  # about model responses: a transcription session has none either way
        if key in given and not isinstance(given[key], bool):
            raise bad_request(f"{key} must be a boolean.", param=f"{param}.{key}", code="invalid_type")
    default = TurnDetection()
    threshold = _number(given, "threshold", default.threshold, param, low=0.0, high=1.0)
    silence = _number(given, "silence_duration_ms", default.silence_ms, param, low=32, high=10_000)
    prefix = _number(given, "prefix_padding_ms", default.prefix_ms, param, low=0, high=1_000)
    return TurnDetection(threshold=float(threshold), silence_ms=int(silence), prefix_ms=int(prefix))


def _known(value: object, param: str, fields: tuple[str, ...]) -> dict[str, Any]:
    """`value` as an object of only `fields`: a field this server does not know is an error, never
    silently ignored (a beta-API client's `turn_detection` at the top level would otherwise mean nothing)."""
    given = _object(value, param)
    for key in given:
        if key not in fields:
            raise bad_request(
                f"Unknown parameter: '{param}.{key}'.", param=f"{param}.{key}", code="unknown_parameter"
            )
    return given


def _object(value: object, param: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise bad_request(f"{param} must be an object.", param=param, code="invalid_type")
    return value


def _text(given: dict[str, Any], key: str, default: str | None) -> str | None:
    if key not in given:
        return default
    value = given[key]
    if value is not None and not isinstance(value, str):
        raise bad_request(
            f"{key} must be a string.", param=f"{_INPUT}.transcription.{key}", code="invalid_type"
        )
    return value or None


def _number(given: dict[str, Any], key: str, default: float, param: str, *, low: float, high: float) -> float:
    value = given.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise bad_request(
            f"{key} must be a number from {low:g} to {high:g}.", param=f"{param}.{key}", code="invalid_value"
        )
    return float(value)


def error_fields(error: APIError) -> dict[str, Any]:
    """An APIError as the `error` object of a realtime `error` event (without the client's event id)."""
    return {"type": error.type, "code": error.code, "message": error.message, "param": error.param}
