from __future__ import annotations

import json
from collections.abc import Iterable

import httpx2
import openai
import pytest
from openai.types.audio import (
    TranscriptionTextDeltaEvent,
    TranscriptionTextDoneEvent,
    TranscriptionTextSegmentEvent,
)

from gigaam_api.formats import sse
from gigaam_api.formats.response_bodies import logprob_entries
from gigaam_api.transcript import Segment, Token, Word

SEGMENT = Segment(
    id=3,
    start=1.5,
    end=2.75,
    text="Добрый день",
    words=(Word("Добрый", 1.5, 2.1), Word("день", 2.1, 2.6)),
    logprobs=(Token(5, " Добрый", 1.5, -0.1), Token(6, " день", 2.1, -0.2)),
)


def test_event_framing_is_one_data_line_and_a_blank_line() -> None:
    frame = sse.event({"type": "transcript.text.delta", "delta": "Привет\nмир"})
    assert frame == 'data: {"type":"transcript.text.delta","delta":"Привет\\nмир"}\n\n'.encode()


def test_event_escapes_unicode_line_separators() -> None:
    frame = sse.event({"delta": "a\u2028b\u2029c\x85d"})
    assert frame.decode().splitlines() == ['data: {"delta":"a\\u2028b\\u2029c\\u0085d"}', ""]
    assert json.loads(frame.decode()[len("data: ") :]) == {"delta": "a\u2028b\u2029c\x85d"}


def test_comment() -> None:
    assert sse.comment() == b": ping\n\n"
    assert sse.comment("a\nb") == b": a b\n\n"


def test_delta_parses_with_the_client_model() -> None:
    logprobs = logprob_entries(SEGMENT.logprobs, leading_space=True)
    payload = sse.delta(" Добрый день", segment_id=3, logprobs=logprobs)
    parsed = TranscriptionTextDeltaEvent.model_validate(payload, strict=True)
    assert parsed.delta == " Добрый день"
    assert parsed.segment_id == "3"
    assert parsed.logprobs is not None
    assert "".join(p.token or "" for p in parsed.logprobs) == parsed.delta
    assert sse.delta("x") == {"type": "transcript.text.delta", "delta": "x"}


def test_segment_parses_with_the_client_model() -> None:
    parsed = TranscriptionTextSegmentEvent.model_validate(sse.segment(SEGMENT, words=False), strict=True)
    assert (parsed.id, parsed.start, parsed.end, parsed.text) == ("3", 1.5, 2.75, "Добрый день")
    assert parsed.speaker == "A"
    assert "words" not in sse.segment(SEGMENT, words=False)
    assert sse.segment(SEGMENT, words=True)["words"] == [
        {"word": "Добрый", "start": 1.5, "end": 2.1},
        {"word": "день", "start": 2.1, "end": 2.6},
    ]


def test_done_usage_validates_as_the_clients_token_usage() -> None:
    payload = sse.done("Добрый день", usage_seconds=8.47, output_tokens=2)
    parsed = TranscriptionTextDoneEvent.model_validate(payload, strict=True)
    assert parsed.text == "Добрый день"
    assert parsed.usage is not None
    assert (parsed.usage.input_tokens, parsed.usage.output_tokens, parsed.usage.total_tokens) == (9, 2, 11)
    assert payload["usage"]["seconds"] == 8.47  # type: ignore[index]
    assert "logprobs" not in payload


def test_progress() -> None:
    assert sse.progress(12.3456, 60.0) == {
        "type": "transcript.progress",
        "processed_seconds": 12.346,
        "total_seconds": 60.0,
    }
    assert sse.progress(1.0, None)["total_seconds"] is None
    # The header's length while decoding goes on; absent when the file declares none.
    assert sse.progress(0.0, None, 3600.0204)["estimated_total_seconds"] == 3600.02
    assert "estimated_total_seconds" not in sse.progress(0.0, None)


def test_error_envelope() -> None:
    assert sse.error("engine failed", "server_error", code="engine_error") == {
        "error": {"message": "engine failed", "type": "server_error", "param": None, "code": "engine_error"}
    }


def stream_through_client(frames: Iterable[bytes], *, strict: bool = True) -> list[object]:
    """Feed frames to the official client's stream parser and return the events it yields."""
    body = b"".join(frames)
    transport = httpx2.MockTransport(
        lambda _: httpx2.Response(200, content=body, headers={"content-type": "text/event-stream"})
    )
    client = openai.OpenAI(
        api_key="x",
        base_url="http://test/v1",
        http_client=httpx2.Client(transport=transport),
        _strict_response_validation=strict,
    )
    stream = client.audio.transcriptions.create(
        file=("a.wav", b"RIFF"), model="gpt-4o-transcribe", stream=True
    )
    return list(stream)


def test_official_client_reads_a_whole_stream_strictly() -> None:
    events = stream_through_client(
        [
            sse.comment(),
            sse.event(sse.delta("Добрый", segment_id=0)),
            sse.event(sse.segment(SEGMENT, words=True)),
            sse.comment(),
            sse.event(sse.delta(" день", segment_id=1)),
            sse.event(sse.done("Добрый день", usage_seconds=2.0, output_tokens=2)),
        ]
    )
    assert [type(e) for e in events] == [
        TranscriptionTextDeltaEvent,
        TranscriptionTextSegmentEvent,
        TranscriptionTextDeltaEvent,
        TranscriptionTextDoneEvent,
    ]
    assert "".join(e.delta for e in events if isinstance(e, TranscriptionTextDeltaEvent)) == "Добрый день"


def test_progress_passes_a_default_client_but_not_a_strict_one() -> None:
    frames = [sse.event(sse.progress(1.0, 2.0)), sse.event(sse.done("", usage_seconds=2.0))]
    events = stream_through_client(frames, strict=False)
    assert len(events) == 2
    # Built loosely as the union's first member; only its `type` tells it apart.
    assert isinstance(events[0], TranscriptionTextSegmentEvent)
    assert events[0].model_dump()["type"] == "transcript.progress"
    assert isinstance(events[1], TranscriptionTextDoneEvent)
    # Our own event types are outside the client's union: a strictly validating client rejects them.
    with pytest.raises(openai.APIResponseValidationError):
        stream_through_client(frames, strict=True)


def test_official_client_raises_on_an_error_event() -> None:
    frames = [sse.event(sse.delta("Добрый")), sse.event(sse.error("engine failed", "server_error"))]
    with pytest.raises(openai.APIError, match="engine failed"):
        stream_through_client(frames)
