"""A finished transcription as bytes for the result cache, and back. Pure.

Compact JSON (Python floats round-trip exactly) compressed with zlib: a transcript with every
token's log-probability shrinks about fourfold.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from typing import Any

from gigaam_api.speakers.turns import Turn
from gigaam_api.transcript import Segment, Token, Word

FORMAT_VERSION = 2  # part of the cache key: a new layout never reads an old entry (2: speakers)


@dataclass(frozen=True, slots=True)
class Result:
    """What a run produced: everything every response format is rendered from."""

    segments: tuple[Segment, ...]
    duration: float
    language: str | None  # ISO 639-1, as the run reports it
    turns: tuple[Turn, ...] | None = None  # a diarized run's final speaker turns


class CorruptEntryError(Exception):
    """Stored bytes that do not decode to a `Result` (written by something else, or damaged)."""


def encode(result: Result) -> bytes:
    payload = {
        "duration": result.duration,
        "language": result.language,
        "segments": [_segment(s) for s in result.segments],
        "turns": None if result.turns is None else [[t.start, t.end, t.speaker] for t in result.turns],
    }
    return zlib.compress(json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def decode(data: bytes) -> Result:
    try:
        payload: Any = json.loads(zlib.decompress(data))
        return Result(
            segments=tuple(_from_segment(s) for s in payload["segments"]),
            duration=float(payload["duration"]),
            language=payload["language"],
            turns=None
            if payload["turns"] is None
            else tuple(Turn(float(a), float(b), str(who)) for a, b, who in payload["turns"]),
        )
    except (zlib.error, ValueError, KeyError, TypeError) as exc:
        raise CorruptEntryError(str(exc)) from None


def _segment(s: Segment) -> dict[str, object]:
    return {
        "id": s.id,
        "start": s.start,
        "end": s.end,
        "text": s.text,
        "tokens": list(s.tokens),
        "avg_logprob": s.avg_logprob,
        "compression_ratio": s.compression_ratio,
        "no_speech_prob": s.no_speech_prob,
        "words": [[w.word, w.start, w.end] for w in s.words],
        "logprobs": [[t.id, t.text, t.start, t.logprob] for t in s.logprobs],
        "speaker": s.speaker,
    }


def _from_segment(d: Any) -> Segment:
    return Segment(
        id=int(d["id"]),
        start=float(d["start"]),
        end=float(d["end"]),
        text=str(d["text"]),
        tokens=tuple(int(t) for t in d["tokens"]),
        avg_logprob=float(d["avg_logprob"]),
        compression_ratio=float(d["compression_ratio"]),
        no_speech_prob=float(d["no_speech_prob"]),
        words=tuple(Word(str(w), float(s), float(e)) for w, s, e in d["words"]),
        logprobs=tuple(Token(int(i), str(t), float(s), float(lp)) for i, t, s, lp in d["logprobs"]),
        speaker=None if d["speaker"] is None else str(d["speaker"]),
    )
