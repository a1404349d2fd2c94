from __future__ import annotations

import httpx2
import openai
import pytest
from openai.types.audio import Transcription, TranscriptionVerbose

from gigaam_api.formats.response_bodies import (
    billed_seconds,
    diarized_json_body,
    json_body,
    logprob_entries,
    text_body,
    verbose_json_body,
)
from gigaam_api.transcript import Segment, Token, Transcript, Word
from tests.fixtures.engines import capabilities

FIRST = Segment(
    id=0,
    start=0.0,
    end=2.5,
    text="Добрый день.",
    tokens=(11, 12),
    avg_logprob=-0.1,
    compression_ratio=0.9,
    words=(Word("Добрый", 0.2, 0.8), Word("день.", 0.8, 1.4)),
    logprobs=(Token(11, " Добрый", 0.2, -0.05), Token(12, " день.", 0.8, -0.15)),
)
SECOND = Segment(
    id=1,
    start=3.0,
    end=8.47,
    text="Как дела?",
    tokens=(13, 14),
    avg_logprob=-0.2,
    compression_ratio=0.8,
    words=(Word("Как", 3.1, 3.5), Word("дела?", 3.5, 4.0)),
    logprobs=(Token(13, " Как", 3.1, -0.3), Token(14, " дела?", 3.5, -0.1)),
)
SILENT = Segment(id=2, start=8.47, end=9.0, text="", no_speech_prob=1.0)
TRANSCRIPT = Transcript(segments=(FIRST, SECOND, SILENT), duration=8.47, language="russian")


def test_json_body_parses_strictly_with_whisper_usage() -> None:
    body = json_body(TRANSCRIPT, include_logprobs=False)
    parsed = Transcription.model_validate(body, strict=True)
    assert parsed.text == "Добрый день. Как дела?"
    assert body["usage"] == {"type": "duration", "seconds": 9}
    assert "logprobs" not in body


def test_json_body_logprobs_cover_the_text() -> None:
    body = json_body(TRANSCRIPT, include_logprobs=True)
    parsed = Transcription.model_validate(body)
    assert parsed.logprobs is not None
    assert [p.token for p in parsed.logprobs] == ["Добрый", " день.", " Как", " дела?"]
    assert "".join(p.token or "" for p in parsed.logprobs) == parsed.text
    assert [p.logprob for p in parsed.logprobs] == [-0.05, -0.15, -0.3, -0.1]
    assert parsed.logprobs[1].bytes == list(" день.".encode())


@pytest.mark.parametrize(("duration", "seconds"), [(0.0, 0), (8.0000000001, 8), (8.001, 9), (59.5, 60)])
def test_billed_seconds_round_up(duration: float, seconds: int) -> None:
    assert billed_seconds(duration) == seconds


def test_verbose_json_default_has_segments_not_words() -> None:
    body = verbose_json_body(TRANSCRIPT, words=False, segments=True)
    parsed = TranscriptionVerbose.model_validate(body, strict=True)
    assert body["task"] == "transcribe"
    assert parsed.language == "russian"
    assert parsed.duration == 8.47
    assert parsed.text == "Добрый день. Как дела?"
    assert parsed.words is None
    assert parsed.segments is not None
    assert [(s.id, s.start, s.end, s.text) for s in parsed.segments] == [
        (0, 0.0, 2.5, "Добрый день."),
        (1, 3.0, 8.47, "Как дела?"),
        (2, 8.47, 9.0, ""),
    ]
    second = parsed.segments[1]
    assert second.seek == 300
    assert second.tokens == [13, 14]
    assert second.temperature == 0.0
    assert second.avg_logprob == -0.2
    assert second.compression_ratio == 0.8
    assert parsed.segments[2].no_speech_prob == 1.0
    assert parsed.usage is not None
    assert parsed.usage.seconds == 9


def test_every_segment_field_is_present() -> None:
    body = verbose_json_body(TRANSCRIPT, words=False, segments=True)
    segments = body["segments"]
    assert isinstance(segments, list)
    required = {"id", "seek", "start", "end", "text", "tokens", "temperature", "avg_logprob"}
    required |= {"compression_ratio", "no_speech_prob"}
    assert all(required <= set(s) for s in segments)


def test_verbose_json_words_only() -> None:
    body = verbose_json_body(TRANSCRIPT, words=True, segments=False)
    parsed = TranscriptionVerbose.model_validate(body, strict=True)
    assert "segments" not in body
    assert parsed.words is not None
    assert [(w.word, w.start, w.end) for w in parsed.words] == [
        ("Добрый", 0.2, 0.8),
        ("день.", 0.8, 1.4),
        ("Как", 3.1, 3.5),
        ("дела?", 3.5, 4.0),
    ]


def test_empty_transcript() -> None:
    empty = Transcript(segments=(), duration=0.0, language="russian")
    assert Transcription.model_validate(json_body(empty, include_logprobs=True), strict=True).text == ""
    verbose = verbose_json_body(empty, words=True, segments=True)
    assert TranscriptionVerbose.model_validate(verbose, strict=True).segments == []
    assert text_body(empty) == "\n"


def test_text_body_ends_with_newline() -> None:
    assert text_body(TRANSCRIPT) == "Добрый день. Как дела?\n"


def strict_client(body: object) -> openai.OpenAI:
    """The official client, validating strictly, against a transport that answers `body` as JSON."""
    transport = httpx2.MockTransport(lambda _: httpx2.Response(200, json=body))
    return openai.OpenAI(
        api_key="x",
        base_url="http://test/v1",
        http_client=httpx2.Client(transport=transport),
        _strict_response_validation=True,
    )


def test_official_client_reads_json_and_verbose_json() -> None:
    client = strict_client(json_body(TRANSCRIPT, include_logprobs=True))
    plain = client.audio.transcriptions.create(file=("a.wav", b"RIFF"), model="whisper-1")
    assert plain.text == "Добрый день. Как дела?"

    client = strict_client(verbose_json_body(TRANSCRIPT, words=True, segments=True))
    verbose = client.audio.transcriptions.create(
        file=("a.wav", b"RIFF"),
        model="whisper-1",
        response_format="verbose_json",
        timestamp_granularities=["word", "segment"],
    )
    assert verbose.segments is not None
    assert verbose.words is not None
    assert len(verbose.segments) == 3
    assert len(verbose.words) == 4


def test_segments_in_a_language_without_spaces_join_without_them() -> None:
    """Text was always joined with spaces: wrong for zh/ja/th, which Qwen3-ASR declares."""
    chinese = (
        Segment(id=0, start=0.0, end=1.0, text="你好"),
        Segment(id=1, start=1.0, end=2.0, text="世界"),
        Segment(id=2, start=2.0, end=2.5, text=""),
    )
    caps = capabilities(languages=frozenset({"zh", "ru"}), unspaced_languages=frozenset({"zh"}))
    assert Transcript(chinese, 2.5, "chinese", caps.separator("zh")).text == "你好世界"
    assert (
        json_body(Transcript(chinese, 2.5, "chinese", caps.separator("zh")), include_logprobs=False)["text"]
        == "你好世界"
    )
    assert Transcript(chinese, 2.5, "russian", caps.separator("ru")).text == "你好 世界"
    assert caps.separator(None) == " "


def test_logprobs_spell_the_text_when_the_model_writes_two_spaces_running() -> None:
    tokens = (Token(1, " да", 0.0, -0.1), Token(0, " ", 0.1, -0.2), Token(2, " нет", 0.2, -0.3))
    entries = logprob_entries(tokens, leading_space=True)
    assert "".join(str(e["token"]) for e in entries) == " да нет"
    assert [e["logprob"] for e in entries] == [-0.1, -0.2, -0.3]  # every token keeps its entry


def test_diarized_bodies() -> None:
    from dataclasses import replace

    from openai.types.audio import TranscriptionDiarized

    diarized = replace(
        TRANSCRIPT,
        segments=(
            replace(FIRST, speaker="A"),
            replace(SECOND, speaker="B"),
            replace(SILENT, speaker="B"),
            Segment(3, 9.0, 9.5, "Да.", speaker="B"),
        ),
    )
    body = diarized_json_body(diarized)
    parsed = TranscriptionDiarized.model_validate(body, strict=True)
    assert [(s.id, s.speaker, s.text) for s in parsed.segments] == [
        ("0", "A", "Добрый день."), ("1", "B", "Как дела?"), ("3", "B", "Да.")
    ]  # fmt: skip
    assert text_body(diarized) == "A: Добрый день.\nB: Как дела? Да.\n"
    verbose = TranscriptionVerbose.model_validate(verbose_json_body(diarized, words=False, segments=True))
    assert [(s.model_extra or {})["speaker"] for s in verbose.segments or ()] == ["A", "B", "B", "B"]
    plain = TranscriptionVerbose.model_validate(verbose_json_body(TRANSCRIPT, words=False, segments=True))
    assert all("speaker" not in (s.model_extra or {}) for s in plain.segments or ())
    assert text_body(TRANSCRIPT) == "Добрый день. Как дела?\n"
