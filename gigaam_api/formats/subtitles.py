"""Readable subtitle cues from word timestamps, rendered as SRT or WebVTT.

Cues follow common subtitling guidance: at most `max_lines` lines of `max_chars` characters, at
most `max_seconds` on screen, at least `min_seconds` where the following silence allows. A pause
between words starts a new cue; when a cue is full it breaks at the last sentence end, else clause
punctuation, else pause, in its second half, and never inside a word.

Cues are cut per segment and never span two, so a stream can cut cues for each segment as it
arrives: `cut_cues(a + b)` equals `cut_cues(a) + cut_cues(b)` except that a short last cue of `a` may
stay on screen into the silence before `b` (cut alone, it stays within its segment's end).
Segments are assumed not to overlap, as the pipeline's chunks do not.

A diarized transcript's segments each have one speaker (they are split where it changes), so each cue
has one: SRT names it at the start of the cue (`A: …`), WebVTT as a voice span (`<v A>…`).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

from gigaam_api.transcript import Segment, Word

SENTENCE_END = tuple(".!?…")
CLAUSE_END = tuple(",;:—")
# A pause this long (s) between words is a better place to break a full cue than none.
SHORT_PAUSE = 0.2
# How many characters of imbalance between two lines a break after punctuation is worth.
PUNCTUATION_BONUS = 10


@dataclass(frozen=True, slots=True)
class Cue:
    start: float
    end: float
    lines: tuple[str, ...]
    speaker: str | None = None


@dataclass(frozen=True, slots=True)
class _Limits:
    max_chars: int
    max_lines: int
    max_seconds: float
    max_gap: float


def cut_cues(
    segments: Sequence[Segment],
    *,
    max_chars: int = 42,
    max_lines: int = 2,
    max_seconds: float = 7.0,
    min_seconds: float = 1.0,
    max_gap: float = 0.5,
) -> list[Cue]:
    limits = _Limits(max_chars, max_lines, max_seconds, max_gap)
    cues: list[Cue] = []
    for n, seg in enumerate(segments):
        groups = _group(seg.words or _spread_words(seg), limits)
        # The last cue may stay up through the silence after its segment, until the next one starts.
        seg_limit = segments[n + 1].start if n + 1 < len(segments) else seg.end
        for i, group in enumerate(groups):
            start, end = group[0].start, max(w.end for w in group)
            limit = groups[i + 1][0].start if i + 1 < len(groups) else max(seg_limit, end)
            end = max(end, min(start + min_seconds, limit))
            cues.append(Cue(start, end, _layout([w.word for w in group], limits), seg.speaker))
    return cues


def srt(cues: Sequence[Cue]) -> str:
    return "\n".join(
        f"{n}\n{_timestamp(c.start, ',')} --> {_timestamp(c.end, ',')}\n"
        + "".join(f"{line}\n" for line in _named(c.lines, c.speaker and f"{c.speaker}: "))
        for n, c in enumerate(cues, start=1)
    )


def vtt(cues: Sequence[Cue]) -> str:
    blocks = [
        f"{_timestamp(c.start, '.')} --> {_timestamp(c.end, '.')}\n"
        # WebVTT cue text is markup: `&`, `<` and `>` must be escaped to show literally.
        + "".join(
            f"{line}\n"
            for line in _named(
                [html.escape(line, quote=False) for line in c.lines],
                c.speaker and f"<v {html.escape(c.speaker, quote=False)}>",
            )
        )
        for c in cues
    ]
    return "\n".join(["WEBVTT\n", *blocks])


def _named(lines: Sequence[str], prefix: str | None) -> list[str]:
    """The cue's lines, the first led by the speaker's `prefix` (none: not diarized)."""
    if not prefix or not lines:
        return list(lines)
    return [prefix + lines[0], *lines[1:]]


def _timestamp(seconds: float, decimal_mark: str) -> str:
    """`HH:MM:SS,mmm`; rounding to whole milliseconds first means the field never reads 1000."""
    ms = max(round(seconds * 1000), 0)
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{decimal_mark}{ms:03d}"


def _spread_words(seg: Segment) -> tuple[Word, ...]:
    """Words for a segment without word timestamps: its span shared out by characters spoken."""
    texts = seg.text.split()
    total = sum(len(t) + 1 for t in texts)
    words: list[Word] = []
    done = 0
    for text in texts:
        start = seg.start + (seg.end - seg.start) * done / total
        done += len(text) + 1
        words.append(Word(text, start, seg.start + (seg.end - seg.start) * done / total))
    return tuple(words)


def _group(words: Sequence[Word], limits: _Limits) -> list[list[Word]]:
    groups: list[list[Word]] = []
    current: list[Word] = []
    for word in words:
        if current and word.start - current[-1].end > limits.max_gap:
            groups.append(current)
            current = []
        current.append(word)
        while len(current) > 1 and not _fits(current, limits):
            cut = _best_break(current)
            groups.append(current[:cut])
            current = current[cut:]
    if current:
        groups.append(current)
    return groups


def _fits(words: Sequence[Word], limits: _Limits) -> bool:
    duration = words[-1].end - words[0].start
    return duration <= limits.max_seconds and len(_wrap([w.word for w in words], limits.max_chars)) <= (
        limits.max_lines
    )


def _best_break(words: Sequence[Word]) -> int:
    """Where to end a cue that overflowed with its last word: an index into `words`, 1..len-1.

    Everything before the last word fitted, so any earlier break fits too; candidates are limited to
    the second half (by characters) so punctuation does not leave a near-empty cue.
    """
    lengths = [len(w.word) + 1 for w in words[:-1]]
    half = sum(lengths) / 2
    best, best_rank = len(words) - 1, -1
    chars = 0
    for i in range(1, len(words)):
        chars += lengths[i - 1]
        if chars < half:
            continue
        rank = _break_rank(words[i - 1], words[i])
        if rank >= best_rank:
            best, best_rank = i, rank
    return best


def _break_rank(before: Word, after: Word) -> int:
    if before.word.endswith(SENTENCE_END):
        return 3
    if before.word.endswith(CLAUSE_END):
        return 2
    return 1 if after.start - before.end >= SHORT_PAUSE else 0


def _wrap(words: Sequence[str], max_chars: int) -> list[str]:
    """Greedy line filling (the fewest lines); a word longer than a line gets a line of its own."""
    lines: list[str] = []
    for word in words:
        if lines and len(lines[-1]) + 1 + len(word) <= max_chars:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


def _layout(words: Sequence[str], limits: _Limits) -> tuple[str, ...]:
    """Lines for a cue: two lines are balanced, and a break after punctuation may cost some balance."""
    lines = _wrap(words, limits.max_chars)
    if len(lines) != 2:
        return tuple(lines)
    best, best_cost = (lines[0], lines[1]), float("inf")
    for i in range(1, len(words)):
        top, bottom = words[:i], words[i:]
        if not (_line_fits(top, limits.max_chars) and _line_fits(bottom, limits.max_chars)):
            continue
        top_text, bottom_text = " ".join(top), " ".join(bottom)
        bonus = PUNCTUATION_BONUS if top_text.endswith(SENTENCE_END + CLAUSE_END) else 0
        cost = abs(len(top_text) - len(bottom_text)) - bonus
        if cost < best_cost:
            best, best_cost = (top_text, bottom_text), cost
    return best


def _line_fits(words: Sequence[str], max_chars: int) -> bool:
    return len(words) == 1 or len(" ".join(words)) <= max_chars
