"""Where the embedding windows of a speech chunk lie, and which stretch of the chunk each one labels.

Pure functions over sample counts (and, for `voiced_regions`, the samples' loudness).
"""

from __future__ import annotations

import itertools

import numpy as np
import numpy.typing as npt


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
    bounds = [0, *((a + b) // 2 for a, b in itertools.pairwise(centres)), length]
    return list(itertools.pairwise(bounds))


def smoothed(labels: list[int]) -> list[int]:
    """A lone window whose neighbours agree takes their label: with half-overlapping windows, a window
    across a speaker change or a cough is a mix and should not make a turn of its own."""
    out = list(labels)
    for i in range(1, len(labels) - 1):  # left to right, so 0 1 0 1 1 is one change, not two
        if out[i - 1] == labels[i + 1] != labels[i]:
            out[i] = out[i - 1]
    return out


def embedded_first(count: int) -> list[int]:
    """The windows of a stretch embedded first: every other one, and the last.

    A window left out lies between two embedded ones; where those two agree, `smoothed` would give it
    their label whatever its own embedding says, so it is not embedded at all; where they differ it is
    (`between_speakers`).
    """
    return [i for i in range(count) if i % 2 == 0 or i == count - 1]


def between_speakers(labels: list[int | None]) -> list[int]:
    """The windows left out (None) whose neighbours got different labels: these are embedded too."""
    return [i for i in range(1, len(labels) - 1) if labels[i] is None and labels[i - 1] != labels[i + 1]]


FRAME_SECONDS = 0.01
QUIET_BELOW_PEAK_DB = 35.0  # frames this far under the chunk's loud frames are pauses
QUIET_FLOOR_RMS = 10 ** (-55 / 20)
MIN_PAUSE_SECONDS = 0.25  # shorter dips are inside a phrase


def voiced_regions(pcm: npt.NDArray[np.float32], rate: int) -> list[tuple[int, int]]:
    """The sounding stretches of a speech chunk, split at pauses of MIN_PAUSE_SECONDS or more.

    The VAD's chunks group phrases with the pauses between them, and speakers mostly change at a pause:
    windows inside one stretch do not mix two voices, and turns do not cover the silence.
    """
    frame = round(FRAME_SECONDS * rate)
    count = len(pcm) // frame
    if count == 0:
        return []
    rms = np.sqrt(np.mean(pcm[: count * frame].reshape(count, frame) ** 2, axis=1))
    level = max(QUIET_FLOOR_RMS, float(np.percentile(rms, 95)) * 10 ** (-QUIET_BELOW_PEAK_DB / 20))
    loud = np.flatnonzero(rms >= level)
    if len(loud) == 0:
        return []
    pause = round(MIN_PAUSE_SECONDS / FRAME_SECONDS)
    breaks = np.flatnonzero(np.diff(loud) > pause)
    starts = [loud[0], *loud[breaks + 1]]
    ends = [*loud[breaks], loud[-1]]
    return [(int(s) * frame, min(len(pcm), (int(e) + 1) * frame)) for s, e in zip(starts, ends, strict=True)]
