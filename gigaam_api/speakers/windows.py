"""Where the embedding windows of a speech chunk lie, and which stretch of the chunk each one labels.

Pure functions over sample counts.
"""

from __future__ import annotations


def window_spans(length: int, window: int, hop: int) -> list[tuple[int, int]]:
    """Windows of `window` samples every `hop` across `length`; the last one ends at the chunk's end.

    A chunk no longer than one window is one window of its own length.
    """
    if length <= window:
        return [(0, length)]
    starts = list(range(0, length - window + 1, hop))
    if starts[-1] + window < length:
        starts.append(length - window)
    return [(s, s + window) for s in starts]


def owned_spans(spans: list[tuple[int, int]], length: int) -> list[tuple[int, int]]:
    """The stretch each window labels: from the midpoint between its centre and the previous window's
    to the midpoint with the next one's; the first from the chunk's start, the last to its end."""
    centres = [(s + e) // 2 for s, e in spans]
    bounds = [0, *((a + b) // 2 for a, b in zip(centres, centres[1:], strict=False)), length]
    return list(zip(bounds, bounds[1:], strict=False))


def smoothed(labels: list[int]) -> list[int]:
    """A lone window whose neighbours agree takes their label: with half-overlapping windows, a window
    across a speaker change or a cough is a mix and should not make a turn of its own."""
    out = list(labels)
    for i in range(1, len(labels) - 1):
        if labels[i - 1] == labels[i + 1] != labels[i]:
            out[i] = labels[i - 1]
    return out
