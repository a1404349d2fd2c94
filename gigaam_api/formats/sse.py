"""Server-Sent Events for `stream=true`, framed and shaped the way OpenAI's client parses them.

Only `data:` lines are sent (older clients mishandle `event:`), every event ends with a blank line,
and keep-alives are comments. Payload builders return plain dicts so callers can test or extend them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from gigaam_api.errors import error_body
from gigaam_api.formats.response_bodies import FALLBACK_SPEAKER, JSONObject, billed_seconds, segment_id
from gigaam_api.transcript import Segment

# Python's str.splitlines() also breaks on these, and JSON leaves them raw with ensure_ascii=False;
# escaping keeps every event on one `data:` line for line splitters stricter than the spec's.
_LINE_BREAKS = str.maketrans({"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def event(payload: Mapping[str, object], *, event_id: int | None = None) -> bytes:
    """One event; with `event_id`, an `id:` line a reconnecting client sends back as Last-Event-ID."""
    data = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).translate(_LINE_BREAKS)
    framed = b"data: " + data.encode("utf-8") + b"\n\n"
    return framed if event_id is None else f"id: {event_id}\n".encode() + framed


def comment(text: str = "ping") -> bytes:
    """A keep-alive: SSE ignores comment lines, whereas an event without data makes the client raise."""
    return b": " + " ".join(text.splitlines()).encode("utf-8") + b"\n\n"


def delta(
    text: str, *, segment_id: int | None = None, logprobs: Sequence[JSONObject] | None = None
) -> JSONObject:
    """`transcript.text.delta`. Deltas concatenate to the done text, so a later segment's delta
    starts with the separating space (and so do its `logprobs`, see `response_bodies.logprob_entries`)."""
    payload: JSONObject = {"type": "transcript.text.delta", "delta": text}
    if logprobs is not None:
        payload["logprobs"] = list(logprobs)
    if segment_id is not None:
        payload["segment_id"] = segment_event_id(segment_id)
    return payload


def segment(seg: Segment, *, words: bool) -> JSONObject:
    """`transcript.text.segment`, with the client's required fields plus `words` when asked."""
    payload: JSONObject = {
        "type": "transcript.text.segment",
        "id": segment_event_id(seg.id),
        "start": seg.start,
        "end": seg.end,
        "text": seg.text,
        # Diarized: the online label (docs/speakers.md); else the one (unnamed) speaker.
        "speaker": seg.speaker or FALLBACK_SPEAKER,
    }
    if words:
        payload["words"] = [{"word": w.word, "start": w.start, "end": w.end} for w in seg.words]
    return payload


def segment_event_id(seg_id: int) -> str:
    """The client types segment ids in events as strings; the digits match verbose_json's int ids."""
    return segment_id(seg_id)


def progress(
    processed_seconds: float, total_seconds: float | None, estimated_total_seconds: float | None = None
) -> JSONObject:
    """`transcript.progress`, our own event type, so better sent only on request.

    The official client by default builds an unknown type loosely (as a segment event with empty
    fields and this `type`), but with strict response validation it raises on it.
    `estimated_total_seconds` (the header's length, while decoding goes on) is there only when known.
    """
    payload: JSONObject = {
        "type": "transcript.progress",
        "processed_seconds": round(processed_seconds, 3),
        "total_seconds": None if total_seconds is None else round(total_seconds, 3),
    }
    if estimated_total_seconds is not None:
        payload["estimated_total_seconds"] = round(estimated_total_seconds, 3)
    return payload


def done(
    text: str,
    *,
    usage_seconds: float,
    output_tokens: int = 0,
    logprobs: Sequence[JSONObject] | None = None,
) -> JSONObject:
    """`transcript.text.done`.

    The client types this event's usage as token usage only, so audio is reported as input tokens,
    one per billed second (we have no audio tokenizer), and the exact duration rides along as
    `seconds`, an extra field the client keeps.
    """
    input_tokens = billed_seconds(usage_seconds)
    payload: JSONObject = {
        "type": "transcript.text.done",
        "text": text,
        "usage": {
            "type": "tokens",
            "input_tokens": input_tokens,
            "input_token_details": {"audio_tokens": input_tokens, "text_tokens": 0},
            "output_tokens": output_tokens,
            "total_tokens": input_tokens + output_tokens,
            "seconds": round(usage_seconds, 3),
        },
    }
    if logprobs is not None:
        payload["logprobs"] = list(logprobs)
    return payload


def error(message: str, type: str = "server_error", code: str | None = None) -> JSONObject:
    """An error after the headers were sent: the client raises `APIError` on a `data:` with `error`."""
    return error_body(message, type=type, code=code)
