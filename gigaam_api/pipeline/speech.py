"""Speech chunks of a growing PCM spool: the VAD reads it window by window while it is decoded.

Runs on its own thread (see `ThreadFeed`); yields each chunk as soon as no later audio can change it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Protocol

import numpy as np
import numpy.typing as npt

from gigaam_api.audio.pcm import PcmSpool
from gigaam_api.audio.rate import SAMPLE_RATE
from gigaam_api.vad.chunking import FRAME_SAMPLES, Chunk, ChunkingSettings, IncrementalChunker

WINDOW_SECONDS = 120  # decoded audio per VAD pass: longer windows amortise the warm-up (60 s: -30 %)
# The first passes are shorter, so the first chunk (and the first text of a stream) does not wait for
# 120 s of audio to be decoded and scanned: 30 s, 30 s, 60 s, then 120 s windows.
FIRST_WINDOW_SECONDS = 30
POLL_SECONDS = 0.5  # how often a wait for more audio re-checks for cancellation


class SpeechDetector(Protocol):
    @property
    def warmup_samples(self) -> int:
        """Audio before a window that primes the detector's state (its outputs are discarded)."""
        ...

    def probabilities(
        self, audio: npt.NDArray[np.float32], *, warmup: npt.NDArray[np.float32] | None = None
    ) -> npt.NDArray[np.float32]: ...


def speech_chunks(
    pcm: PcmSpool, vad: SpeechDetector, settings: ChunkingSettings, stop: threading.Event
) -> Iterator[Chunk]:
    """Chunks of the spool's speech, in order, until decoding ends (or fails, or `stop` is set)."""
    chunker = IncrementalChunker(settings)
    pos = 0
    while not stop.is_set():
        window = window_samples(pos)
        available = pcm.wait_for(pos + window, timeout=POLL_SECONDS)
        if pcm.error is not None or (pcm.finished and available <= pos):
            break
        if available < pos + window and not pcm.finished:
            continue  # a partial window: wait for more
        end = min(pos + window, available)
        warmup = pcm.read(max(0, pos - vad.warmup_samples), pos)
        yield from chunker.push(vad.probabilities(pcm.read(pos, end), warmup=warmup))
        pos = end
    if not stop.is_set() and pcm.error is None:
        yield from chunker.finish()


def window_samples(pos: int) -> int:
    """The length of the VAD pass that starts at sample `pos`: short at first, then WINDOW_SECONDS.

    Always whole VAD frames: the detector pads a window's partial last frame, and every later frame
    (so every chunk boundary) would sit half a frame off its audio (30 s is 937.5 frames).
    """
    seconds = min(WINDOW_SECONDS, max(FIRST_WINDOW_SECONDS, round(pos / SAMPLE_RATE)))
    return seconds * SAMPLE_RATE // FRAME_SAMPLES * FRAME_SAMPLES
