"""The body of /web/render: bounded by the audio it claims to transcribe."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gigaam_api.errors import APIError
from gigaam_api.web.render_request import MAX_ITEMS_PER_SECOND, parse_render_request

MAX_SECONDS = 100.0


def _body(duration: float, segments: int, words_each: int = 0) -> bytes:
    word = {"word": "да", "start": 0.0, "end": 0.1}
    segs: list[dict[str, Any]] = [
        {"id": str(i), "start": 0.0, "end": 0.1, "text": "да", "words": [word] * words_each}
        for i in range(segments)
    ]
    return json.dumps({"response_format": "srt", "duration": duration, "segments": segs}).encode()


def _parse(data: bytes) -> int:
    return len(parse_render_request(data, language="russian", max_seconds=MAX_SECONDS).transcript.segments)


def test_counts_up_to_the_limit_are_rendered() -> None:
    assert _parse(_body(2.0, 2 * MAX_ITEMS_PER_SECOND)) == 50
    assert _parse(_body(2.0, 1, words_each=2 * MAX_ITEMS_PER_SECOND)) == 1
    assert _parse(_body(0.0, MAX_ITEMS_PER_SECOND)) == MAX_ITEMS_PER_SECOND  # a short clip counts as 1 s
    assert _parse(_body(MAX_SECONDS, 0)) == 0


@pytest.mark.parametrize(
    ("data", "param"),
    [
        (_body(2.0, 2 * MAX_ITEMS_PER_SECOND + 1), "segments"),
        (_body(2.0, 2, words_each=MAX_ITEMS_PER_SECOND + 1), "words"),
        (_body(MAX_SECONDS + 0.5, 0), "duration"),
        (_body(-1.0, 0), "duration"),
        (_body(1.0, 1).replace(b'"start": 0.0', b'"start": 1e400', 1), None),
        (_body(1.0, 1).replace(b'"id": "0"', b'"id": -1'), "segments.0.id"),
        # Finite, but later than any audio: 1.797e305 s overflowed an SRT timestamp's milliseconds (a 500
        # the fuzz test found).
        (_body(1.0, 1).replace(b'"end": 0.1', b'"end": 1.797693134862316e+305', 1), "segments.0.end"),
        (
            _body(1.0, 1, words_each=1).replace(b'"start": 0.0, "end": 0.1}', b'"start": 100.5, "end": 0.1}'),
            "segments.0.words.0.start",
        ),
        (
            _body(1.0, 1, words_each=1).replace(b'"end": 0.1}', b'"end": 1.797693134862316e+305}', 1),
            "segments.0.words.0.end",
        ),
    ],
)
def test_bodies_beyond_any_transcript_are_400(data: bytes, param: str | None) -> None:
    with pytest.raises(APIError) as caught:
        _parse(data)
    assert caught.value.status == 400 and caught.value.param == param, caught.value.message


def test_speakers_are_kept_only_when_the_page_says_the_transcript_is_diarized() -> None:
    segment = {"id": 0, "start": 0.0, "end": 1.0, "text": "да", "speaker": "Ведущий"}
    body: dict[str, Any] = {"response_format": "srt", "duration": 1.0, "segments": [segment]}
    plain = parse_render_request(json.dumps(body).encode(), language="russian", max_seconds=MAX_SECONDS)
    diarized = parse_render_request(
        json.dumps({**body, "speakers": True}).encode(), language="russian", max_seconds=MAX_SECONDS
    )
    assert plain.transcript.segments[0].speaker is None
    assert diarized.transcript.segments[0].speaker == "Ведущий"
    segment["speaker"] = "x" * 65
    with pytest.raises(APIError) as refused:
        parse_render_request(
            json.dumps({**body, "speakers": True}).encode(), language="russian", max_seconds=MAX_SECONDS
        )
    assert refused.value.param == "segments.0.speaker"
