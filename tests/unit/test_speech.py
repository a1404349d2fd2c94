"""The VAD loop over a growing PCM spool: window lengths and how soon the first chunk comes out."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from gigaam_api.audio.pcm import PcmSpool
from gigaam_api.audio.rate import SAMPLE_RATE
from gigaam_api.pipeline.speech import FIRST_WINDOW_SECONDS, WINDOW_SECONDS, speech_chunks, window_samples
from gigaam_api.vad.chunking import FRAME_SAMPLES, ChunkingSettings, plan_chunks
from tests.fixtures.chunks import seconds
from tests.fixtures.detectors import LoudFrames


def test_windows_start_short_then_grow_to_the_full_length() -> None:
    starts, pos = [], 0
    while pos < 600 * SAMPLE_RATE:
        starts.append(round(pos / SAMPLE_RATE))
        assert window_samples(pos) % FRAME_SAMPLES == 0, "whole VAD frames"
        pos += window_samples(pos)
    assert starts[:6] == [0, 30, 60, 120, 240, 360]
    assert window_samples(0) == FIRST_WINDOW_SECONDS * SAMPLE_RATE // FRAME_SAMPLES * FRAME_SAMPLES
    assert window_samples(3600 * SAMPLE_RATE) == WINDOW_SECONDS * SAMPLE_RATE


def test_windowed_chunks_equal_one_pass_over_the_whole_file(tmp_path: Path) -> None:
    """The windows (30 s, 30 s, 60 s, ...) give the chunks of one pass: no frame off its audio."""
    audio = _speech(200, pause=0.7)
    audio[int(61.3 * SAMPLE_RATE) : int(61.9 * SAMPLE_RATE)] = 0  # a pause near a window boundary
    with PcmSpool(tmp_path / "pcm") as pcm:
        pcm.append(audio)
        pcm.finish()
        got = list(speech_chunks(pcm, LoudFrames(), ChunkingSettings(), threading.Event()))
        whole = LoudFrames().probabilities(pcm.read(0, len(audio)))
    assert got == plan_chunks(whole)


def _speech(seconds: float, pause: float = 1.0) -> np.ndarray:
    """Loud 8-s stretches separated by `pause` s of silence, as int16."""
    out = np.zeros(int(seconds * SAMPLE_RATE), np.int16)
    step = int((8 + pause) * SAMPLE_RATE)
    for start in range(0, len(out), step):
        out[start : start + 8 * SAMPLE_RATE] = 8000
    return out


def test_the_first_chunk_needs_only_the_first_window_of_audio(tmp_path: Path) -> None:
    """A stream's first text waits for 30 s of decoded audio, not for the 120-s windows of later passes."""
    audio = _speech(FIRST_WINDOW_SECONDS)
    with PcmSpool(tmp_path / "pcm") as pcm:
        pcm.append(audio)  # the decoder is still running: the spool is not finished
        stop = threading.Event()
        chunks = speech_chunks(pcm, LoudFrames(), ChunkingSettings(), stop)
        first = next(chunks)  # would block (polling) if the VAD waited for more audio
        assert 15 <= seconds(first) <= 22.5
        assert pcm.available == len(audio) and not pcm.finished
        stop.set()
        pcm.finish()
        assert list(chunks) == []
