"""Transcript data shared by the engines, the pipeline and the output formats.

Pure Python on purpose: the HTTP layer and the formats import this module, and neither may pull in
numpy or an inference runtime.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

WORD_SEPARATOR = " "
NumberStyle = Literal["words", "digits"]  # numbers as recognised, or rewritten as digits (numbers/)
NUMBER_STYLES: tuple[NumberStyle, ...] = ("words", "digits")


@dataclass(frozen=True, slots=True)
class Token:
    """One decoded token. `start` is in seconds, relative to the chunk until `shifted`."""

    id: int
    text: str
    start: float
    logprob: float

    def shifted(self, offset: float) -> Token:
        return Token(self.id, self.text, self.start + offset, self.logprob)


@dataclass(frozen=True, slots=True)
class Word:
    """A timed word; relative to its chunk in an engine's result, absolute in a `Segment`."""

    word: str
    start: float
    end: float

    def shifted(self, offset: float) -> Word:
        return Word(self.word, round(self.start + offset, 3), round(self.end + offset, 3))


@dataclass(frozen=True, slots=True)
class Segment:
    """One transcribed chunk with absolute times, shaped after OpenAI's verbose_json segment."""

    id: int
    start: float
    end: float
    text: str
    tokens: tuple[int, ...] = ()
    avg_logprob: float = 0.0
    compression_ratio: float = 0.0
    no_speech_prob: float = 0.0
    words: tuple[Word, ...] = ()
    logprobs: tuple[Token, ...] = field(default=(), repr=False)
    speaker: str | None = None  # who said it, when the transcript is diarized


@dataclass(frozen=True, slots=True)
class Transcript:
    segments: tuple[Segment, ...]
    duration: float
    language: str  # the name verbose_json reports: what the engine used or detected, else "unknown"
    separator: str = WORD_SEPARATOR  # between segments: the engine's rule for the language (`Capabilities`)
    task: Literal["transcribe", "translate"] = "transcribe"  # verbose_json's `task`

    @property
    def text(self) -> str:
        return join_texts((s.text for s in self.segments), self.separator)


def join_texts(texts: Iterable[str], separator: str = WORD_SEPARATOR) -> str:
    """Join segment texts the way the stream's deltas concatenate: `separator` (one space, or nothing
    for a language written without spaces) between non-empty parts."""
    return separator.join(p for p in (t.strip() for t in texts) if p)


def compression_ratio(text: str) -> float:
    """Whisper's repetition signal: UTF-8 length over zlib-compressed length (0 for empty text)."""
    data = text.encode("utf-8")
    if not data:
        return 0.0
    return len(data) / len(zlib.compress(data))


def build_segment(
    seg_id: int,
    text: str,
    *,
    start: float,
    end: float,
    words: Sequence[Word] | None,
    tokens: Sequence[Token] | None,
) -> Segment:
    """A segment with absolute times from a chunk's result (`start` is the chunk's offset in the audio).

    Words are clipped to `end`, so a model's frame rounding never puts a word past its segment.
    """
    shifted = tuple(t.shifted(start) for t in tokens or ())
    end = round(end, 3)
    clipped = tuple(_clipped(w.shifted(start), end) for w in words or ())
    return segment_of(seg_id, text.strip(), start=round(start, 3), end=end, words=clipped, logprobs=shifted)


def segment_of(
    seg_id: int,
    text: str,
    *,
    start: float,
    end: float,
    words: tuple[Word, ...] = (),
    logprobs: tuple[Token, ...] = (),
) -> Segment:
    """A segment with what follows from its text and tokens (compression ratio, no-speech probability,
    average log-probability): one derivation for the pipeline and for the page's downloads."""
    avg = sum(t.logprob for t in logprobs) / len(logprobs) if logprobs else 0.0
    return Segment(
        id=seg_id,
        start=start,
        end=end,
        text=text,
        tokens=tuple(t.id for t in logprobs),
        avg_logprob=avg,
        compression_ratio=compression_ratio(text),
        no_speech_prob=0.0 if text else 1.0,
        words=words,
        logprobs=logprobs,
    )


def _clipped(word: Word, end: float) -> Word:
    return Word(word.word, min(word.start, end), min(word.end, end))
