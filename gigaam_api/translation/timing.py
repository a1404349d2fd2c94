"""Word times for a translated segment, from the original words' times. Pure.

Subtitles are cut from word times (`formats.subtitles.cut_cues`). A translation has no word times of
its own, so its words share out the original words' spans in order: with as many words as the
original, each gets its original's exact times, so the cues keep the transcription's times; with
more or fewer, each covers an equal fraction of the original words, and pauses between them stay.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

from gigaam_api.transcript import Word


def retimed(text: str, original: Sequence[Word]) -> tuple[Word, ...]:
    """`text`'s words timed over `original`'s; none if either has no words (cues then spread the
    segment's span by characters, as for any segment without word times)."""
    words = text.split()
    if not words or not original:
        return ()
    n, m = len(original), len(words)
    timed: list[Word] = []
    for j, word in enumerate(words):
        start, end = Fraction(j * n, m), Fraction((j + 1) * n, m)
        timed.append(Word(word, round(_start_at(start, original), 3), round(_end_at(end, original), 3)))
    return tuple(timed)


def _start_at(position: Fraction, original: Sequence[Word]) -> float:
    """The time at a position in word units (2.5: halfway through the third word); a whole position
    is the start of that word, so the silence before it is not covered."""
    index = int(position)
    if index >= len(original):
        return original[-1].end
    word = original[index]
    return word.start + float(position - index) * (word.end - word.start)


def _end_at(position: Fraction, original: Sequence[Word]) -> float:
    """As `_start_at`, but a whole position is the end of the word before it."""
    index = int(position)
    if position == index:
        return original[index - 1].end
    word = original[index]
    return word.start + float(position - index) * (word.end - word.start)
