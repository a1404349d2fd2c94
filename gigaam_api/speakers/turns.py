"""Speaker turns, their labels, and attributing speakers to transcript segments.

Pure Python (no numpy): the formats and the HTTP layer may use it.
"""

from __future__ import annotations

import bisect
import string
from collections.abc import Sequence
from dataclasses import dataclass, replace

from gigaam_api.transcript import WORD_SEPARATOR, Segment, Word, compression_ratio


@dataclass(frozen=True, slots=True)
class Turn:
    """A stretch of speech by one speaker; times in seconds from the start of the audio."""

    start: float
    end: float
    speaker: str


def speaker_label(index: int) -> str:
    """OpenAI's anonymous labels in order of first appearance: A, B, …, Z, AA, AB, …"""
    letters = string.ascii_uppercase
    label = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, len(letters))
        label = letters[rest] + label
    return label


def merge_turns(turns: Sequence[Turn], *, max_gap: float | None = None) -> list[Turn]:
    """Consecutive turns of one speaker joined into one, across pauses up to `max_gap` seconds (None:
    any pause, as a reader's "one line per turn" wants)."""
    merged: list[Turn] = []
    for turn in turns:
        close = max_gap is None or (merged and turn.start - merged[-1].end <= max_gap)
        if merged and merged[-1].speaker == turn.speaker and close:
            merged[-1] = replace(merged[-1], end=max(merged[-1].end, turn.end))
        else:
            merged.append(turn)
    return merged


def speaker_at(start: float, end: float, turns: Sequence[Turn]) -> str | None:
    """The speaker whose turns overlap [start, end] most; without overlap, the nearest turn's.

    `turns` are in time order and do not overlap (as the diarizer gives them); see `TurnIndex` for many
    look-ups in one list.
    """
    return TurnIndex(turns).speaker_at(start, end)


class TurnIndex:
    """Speaker look-ups in ordered, non-overlapping turns by bisection: an hour's words against an
    hour's turns take milliseconds, not a scan of every turn per word."""

    def __init__(self, turns: Sequence[Turn]) -> None:
        self._turns = turns
        self._starts = [t.start for t in turns]
        self._ends = [t.end for t in turns]

    def speaker_at(self, start: float, end: float) -> str | None:
        if not self._turns:
            return None
        first = bisect.bisect_right(self._ends, start)  # turns ending after `start`
        last = bisect.bisect_left(self._starts, end)  # turns starting before `end`
        overlap: dict[str, float] = {}
        for turn in self._turns[first:last]:
            shared = min(end, turn.end) - max(start, turn.start)
            if shared > 0:
                overlap[turn.speaker] = overlap.get(turn.speaker, 0.0) + shared
        if overlap:
            return max(overlap, key=lambda speaker: overlap[speaker])
        middle = (start + end) / 2
        near = self._turns[max(first - 1, 0) : first + 1]
        return min(near, key=lambda t: max(t.start - middle, middle - t.end)).speaker


def attribute(
    segments: Sequence[Segment], turns: Sequence[Turn] | TurnIndex, *, first_id: int | None = None
) -> list[Segment]:
    """Segments with a speaker each, split where the speaker changes between their words.

    Each word goes to the speaker whose turns it overlaps most; a segment without word times goes whole
    to the speaker it overlaps most. Ids are renumbered from `first_id` (default: the first segment's).
    """
    result: list[Segment] = []
    if first_id is None:
        first_id = segments[0].id if segments else 0
    next_id = first_id
    index = turns if isinstance(turns, TurnIndex) else TurnIndex(turns)
    for segment in segments:
        for piece in _split(segment, index):
            result.append(replace(piece, id=next_id))
            next_id += 1
    return result


def _split(segment: Segment, turns: TurnIndex) -> list[Segment]:
    if not segment.words:
        return [replace(segment, speaker=turns.speaker_at(segment.start, segment.end))]
    runs: list[tuple[str | None, list[Word]]] = []
    for word in segment.words:
        speaker = turns.speaker_at(word.start, word.end)
        if runs and runs[-1][0] == speaker:
            runs[-1][1].append(word)
        else:
            runs.append((speaker, [word]))
    if len(runs) == 1:
        return [replace(segment, speaker=runs[0][0])]
    pieces = []
    for index, (speaker, words) in enumerate(runs):
        start = segment.start if index == 0 else words[0].start
        end = segment.end if index == len(runs) - 1 else runs[index + 1][1][0].start
        pieces.append(_piece(segment, speaker, tuple(words), start, end))
    return pieces


def _piece(
    segment: Segment, speaker: str | None, words: tuple[Word, ...], start: float, end: float
) -> Segment:
    """The part of `segment` between `start` and `end`, holding `words`; tokens follow their times."""
    logprobs = tuple(t for t in segment.logprobs if start <= t.start < end)
    text = WORD_SEPARATOR.join(w.word.strip() for w in words)
    return replace(
        segment,
        start=round(start, 3),
        end=round(end, 3),
        text=text,
        tokens=tuple(t.id for t in logprobs),
        avg_logprob=sum(t.logprob for t in logprobs) / len(logprobs) if logprobs else 0.0,
        compression_ratio=compression_ratio(text),
        words=words,
        logprobs=logprobs,
        speaker=speaker,
    )
