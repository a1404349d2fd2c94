"""Carry word times across a rewrite of a segment's text. Pure.

The rewriter sees only text; the words it replaced are found by aligning the tokens before and after.
A rewritten span becomes one word timed from the first replaced word's start to the last one's end, so
subtitles and word timestamps still point at the audio where the number was said.
"""

from __future__ import annotations

from collections.abc import Sequence
from difflib import SequenceMatcher

from gigaam_api.transcript import WORD_SEPARATOR, Word


def realign(words: Sequence[Word], rewritten: Sequence[str]) -> tuple[Word, ...]:
    """`words` after their texts, joined, were rewritten into the tokens `rewritten`.

    Unchanged words keep their times. A changed span (one or more words in, one or more tokens out)
    becomes one word: its tokens joined by a space, from the first replaced word's start to the last
    one's end. Tokens that replace nothing get a zero-length word where they stand; words rewritten into
    nothing are dropped.
    """
    before = [w.word for w in words]
    # autojunk off: a long segment's common words ("и", "в") must still anchor the alignment.
    matcher = SequenceMatcher(a=before, b=list(rewritten), autojunk=False)
    out: list[Word] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            out.extend(words[i1:i2])
        elif j1 < j2:
            text = WORD_SEPARATOR.join(rewritten[j1:j2])
            if i1 < i2:
                out.append(Word(text, words[i1].start, words[i2 - 1].end))
            else:
                at = out[-1].end if out else (words[i1].start if i1 < len(words) else 0.0)
                out.append(Word(text, at, at))
    return tuple(out)
