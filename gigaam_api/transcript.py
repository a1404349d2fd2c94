"""Transcript data shared by the engine, the long-form pipeline and the output formats.

Pure Python on purpose: the HTTP layer and the formats import this module, and neither may pull in
numpy or an inference runtime.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

WORD_SEPARATOR = " "


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
class ChunkResult:
    """What an engine returns for one chunk of audio: text plus per-token detail."""

    text: str
    tokens: tuple[Token, ...] = ()


@dataclass(frozen=True, slots=True)
class Word:
    word: str
    start: float
    end: float


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


@dataclass(frozen=True, slots=True)
class Transcript:
    segments: tuple[Segment, ...]
    duration: float
    language: str = "russian"

    @property
    def text(self) -> str:
        return join_texts(s.text for s in self.segments)


def join_texts(texts: Iterable[str]) -> str:
    """Join segment texts the way the stream's deltas concatenate: one space between non-empty parts."""
    return WORD_SEPARATOR.join(p for p in (t.strip() for t in texts) if p)


def compression_ratio(text: str) -> float:
    """Whisper's repetition signal: UTF-8 length over zlib-compressed length (0 for empty text)."""
    data = text.encode("utf-8")
    if not data:
        return 0.0
    return len(data) / len(zlib.compress(data))


def words_from_tokens(tokens: Sequence[Token], end: float, frame: float) -> tuple[Word, ...]:
    """Group tokens into words at separator tokens.

    A word starts at its first token and ends where the next word starts or, for the last word,
    one frame after its last token (capped at `end`, the chunk's end).
    """
    groups: list[list[Token]] = []
    for tok in tokens:
        if tok.text.startswith(WORD_SEPARATOR) or not groups:
            groups.append([])
        if tok.text.strip():
            groups[-1].append(tok)
    groups = [g for g in groups if g]
    words: list[Word] = []
    for i, group in enumerate(groups):
        start = group[0].start
        stop = groups[i + 1][0].start if i + 1 < len(groups) else min(end, group[-1].start + frame)
        text = "".join(t.text for t in group).strip()
        words.append(Word(text, round(start, 3), round(max(stop, start), 3)))
    return tuple(words)


def build_segment(seg_id: int, result: ChunkResult, *, start: float, end: float, frame: float) -> Segment:
    """Turn a chunk's engine result into a segment with absolute times (`start` is the chunk offset)."""
    tokens = tuple(t.shifted(start) for t in result.tokens)
    text = result.text.strip()
    avg = sum(t.logprob for t in tokens) / len(tokens) if tokens else 0.0
    return Segment(
        id=seg_id,
        start=round(start, 3),
        end=round(end, 3),
        text=text,
        tokens=tuple(t.id for t in tokens),
        avg_logprob=avg,
        compression_ratio=compression_ratio(text),
        no_speech_prob=0.0 if text else 1.0,
        words=words_from_tokens(tokens, end, frame),
        logprobs=tokens,
    )
