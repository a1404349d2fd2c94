"""Is a stereo recording a call, one speaker a channel? Decides whether diarization goes per channel.

The test (`is_stereo_call`, pure): over 20-ms frames in which either channel holds speech energy (RMS above
-45 dBFS), count those in which one channel is at least 12 dB louder than the other. A call recorder puts
each side on its own channel, so whoever talks dominates nearly every frame (the other side holds silence or
faint line echo). A stereo mix of one room, a mono file duplicated or a panned mix keeps both channels within
a few dB. It is a call when at least 1 s of frames is active, at least 80% of them are dominated, and each
channel dominates at least 10% of them (both sides talk: one voice on one channel is not two speakers).
Only the first `SCAN_SECONDS` are read, a frame at a time: constant memory, bounded work.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from gigaam_api.audio.decode import AudioDecodeError, audio_channels, stereo_blocks
from gigaam_api.audio.rate import SAMPLE_RATE

SCAN_SECONDS: Final = 600.0
FRAME: Final = SAMPLE_RATE // 50  # 20 ms
ACTIVE_DBFS: Final = -45.0
DOMINANCE_DB: Final = 12.0
MIN_ACTIVE_FRAMES: Final = 50  # 1 s
MIN_DOMINATED: Final = 0.8
MIN_EACH_SIDE: Final = 0.1

_FULL_SCALE_SQUARED: Final = 32768.0**2
_FLOOR: Final = 1e-12  # -120 dBFS: digital silence has a level too


class ChannelDominance:
    """Frame counts of `is_stereo_call`'s test, fed int16 (n, 2) blocks of any length."""

    def __init__(self) -> None:
        self._carry = np.zeros((0, 2), np.int16)  # the part of a frame the last block ended in
        self.active = 0
        self.left = 0  # active frames the left channel dominates
        self.right = 0

    def add(self, block: npt.NDArray[np.int16]) -> None:
        samples = np.concatenate((self._carry, block)) if len(self._carry) else block
        whole = len(samples) // FRAME * FRAME
        self._carry = samples[whole:].copy()
        frames = samples[:whole].astype(np.float64).reshape(-1, FRAME, 2)
        level = 10.0 * np.log10(np.mean(frames**2, axis=1) / _FULL_SCALE_SQUARED + _FLOOR)  # (frames, 2)
        active = level.max(axis=1) > ACTIVE_DBFS
        difference = level[:, 0] - level[:, 1]
        self.active += int(active.sum())
        self.left += int((active & (difference >= DOMINANCE_DB)).sum())
        self.right += int((active & (difference <= -DOMINANCE_DB)).sum())

    @property
    def is_call(self) -> bool:
        if self.active < MIN_ACTIVE_FRAMES:
            return False
        return (self.left + self.right) >= MIN_DOMINATED * self.active and min(
            self.left, self.right
        ) >= MIN_EACH_SIDE * self.active


def is_stereo_call(blocks: Iterable[npt.NDArray[np.int16]]) -> bool:
    """Whether 16 kHz stereo int16 audio, as (n, 2) blocks, clearly carries one speaker a channel."""
    counts = ChannelDominance()
    for block in blocks:
        counts.add(block)
    return counts.is_call


def detect_stereo_call(source: Path) -> bool:
    """`is_stereo_call` over a file's first `SCAN_SECONDS`; False for anything but two channels or for
    audio that does not decode (the ordinary run then says why)."""
    if audio_channels(source) != 2:
        return False
    try:
        return is_stereo_call(stereo_blocks(source, max_seconds=SCAN_SECONDS))
    except AudioDecodeError:
        return False
