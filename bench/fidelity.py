"""Character edit rate between two transcripts (Levenshtein distance / reference length).

rapidfuzz would do this, but it is not in the lock; the row-wise DP below is vectorised with numpy so an
hour of text (tens of thousands of characters) takes seconds: per row, substitutions and deletions are
elementwise, and insertions are a running minimum of (cost - position) + position.
"""

from __future__ import annotations

import numpy as np


def edit_distance(reference: str, hypothesis: str) -> int:
    ref = np.frombuffer(reference.encode("utf-32-le"), dtype=np.uint32)
    hyp = np.frombuffer(hypothesis.encode("utf-32-le"), dtype=np.uint32)
    if ref.size == 0 or hyp.size == 0:
        return int(max(ref.size, hyp.size))
    positions = np.arange(hyp.size + 1, dtype=np.int64)
    row = positions.copy()
    for i, char in enumerate(ref, start=1):
        best = np.empty_like(row)
        best[0] = i
        best[1:] = np.minimum(row[1:] + 1, row[:-1] + (hyp != char))  # deletion, substitution/match
        row = np.minimum.accumulate(best - positions) + positions  # insertion
    return int(row[-1])


def char_error_rate(reference: str, hypothesis: str) -> float:
    return edit_distance(reference, hypothesis) / max(len(reference), 1)


def words_per_minute(text: str, seconds: float) -> float:
    """Words a transcript has per minute of its audio: a dropped phrase shows here, not in the edit rate."""
    return round(len(text.split()) / (seconds / 60), 1)


def text_agreement(reference: list[str], texts: list[str]) -> dict[str, object]:
    """Whether a configuration wrote the reference's texts on the same chunks, and its edit rate."""
    if len(reference) != len(texts):
        raise ValueError(f"{len(texts)} texts against {len(reference)} reference texts")
    joined_reference, joined = "\n".join(reference), "\n".join(texts)
    return {
        "same_text": joined == joined_reference,
        "cer": round(char_error_rate(joined_reference, joined), 4),
    }
