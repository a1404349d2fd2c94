"""Silero VAD (v5/v6 ONNX) speech probabilities, batched over independent stretches of audio.

The model is recurrent: each 512-sample frame (plus 64 samples of context from the previous frame)
updates an LSTM state. Everything before the LSTM depends on the frame alone, so `SileroNumpy` runs it
for all frames at once as a few large matrix products (the weights are read from the same ONNX file),
and only the LSTM cell runs frame step by frame step. To keep those steps few, the audio is cut into
stretches that run side by side as one batch. Each stretch first consumes a warm-up of the audio just
before it, whose outputs are discarded: the state forgets its start within a second or so, which is what
makes the stretches independent. ONNX Runtime runs the model itself for the sequential reference, and
for everything if the numpy network cannot read the model or does not reproduce it.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime as rt

from gigaam_api.audio.rate import SAMPLE_RATE
from gigaam_api.vad.chunking import FRAME_SAMPLES
from gigaam_api.vad.silero_numpy import SileroNumpy, SileroWeightsError

CONTEXT_SAMPLES = 64  # the model sees the tail of the previous frame before each frame
STATE_SIZE = 128
MODEL_PACKAGE = "silero-vad"

SELF_CHECK_TOLERANCE = 1e-3  # max |numpy - ONNX Runtime| on the start-up check (measured: ~2e-6)

Audio = npt.NDArray[np.float32]
logger = logging.getLogger(__name__)


class SileroModelNotFoundError(FileNotFoundError):
    """The Silero ONNX weights are missing; they ship inside the silero-vad wheel."""


def silero_model_path() -> Path:
    """Path of silero_vad.onnx inside the installed silero-vad wheel.

    Only the package's location is looked up: importing silero_vad would import torch.
    """
    spec = importlib.util.find_spec("silero_vad")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        path = Path(location) / "data" / "silero_vad.onnx"
        if path.is_file():
            return path
    raise SileroModelNotFoundError(
        f"silero_vad.onnx not found: install the {MODEL_PACKAGE!r} package (pip install {MODEL_PACKAGE})"
    )


def frame_count(samples: int) -> int:
    """Number of VAD frames covering `samples` samples (a last partial frame counts)."""
    return -(-samples // FRAME_SAMPLES)


class SileroVad:
    """Speech probability per 32-ms frame: the numpy network, checked against ONNX Runtime at start.

    `stretch_seconds` is the length of the independent stretches run as one batch and
    `warmup_seconds` the audio each stretch consumes first to settle the state. Measured on 10 min
    of synthetic speech: the LSTM forgets its start slowly, so 1 s of warm-up agrees with a
    sequential pass on 99.4 % of threshold decisions and 4 s on 99.5 % (60-s stretches: 99.7 %);
    30-s stretches keep the batch wide enough for windows of a few minutes. On one core (BLAS
    limited to one thread) that runs at about 1700x realtime on one 10-min call, 1200x in 60-s windows;
    a single sequence (no batching: `stretch_seconds` past the audio's length) at about 1200x.
    `num_threads` is ONNX Runtime's (the reference and the fallback); numpy's BLAS threads are set by
    its environment (OPENBLAS_NUM_THREADS).
    """

    def __init__(
        self,
        model_path: Path | None = None,
        *,
        num_threads: int = 1,
        stretch_seconds: float = 30.0,
        warmup_seconds: float = 4.0,
    ) -> None:
        if stretch_seconds <= 0 or warmup_seconds < 0:
            raise ValueError("stretch_seconds must be > 0 and warmup_seconds >= 0")
        options = rt.SessionOptions()
        options.intra_op_num_threads = num_threads
        options.inter_op_num_threads = 1
        options.execution_mode = rt.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3  # the stock model logs unused-initializer warnings on load
        path = model_path or silero_model_path()
        self._session = rt.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self._sr = np.array(SAMPLE_RATE, dtype=np.int64)
        self._stretch_frames = max(1, round(stretch_seconds * SAMPLE_RATE / FRAME_SAMPLES))
        self._warmup_frames = round(warmup_seconds * SAMPLE_RATE / FRAME_SAMPLES)
        self._net = self._numpy_network(path)

    def _numpy_network(self, path: Path) -> SileroNumpy | None:
        """The numpy network if it reads `path` and reproduces ONNX Runtime on a test signal."""
        try:
            net = SileroNumpy.from_onnx(path)
        except (SileroWeightsError, OSError, ValueError) as exc:
            logger.warning("Silero VAD runs on ONNX Runtime (slower): %s", exc)
            return None
        audio = _check_signal()
        frames = _frames(np.zeros(0, dtype=np.float32), audio)
        reference = self._steps(frames, np.arange(len(frames))[None, :])[0]
        signal = _signal(np.zeros(0, dtype=np.float32), audio)
        fast = net.lstm(net.gate_inputs(signal, len(frames)), np.arange(len(frames))[None, :])[0]
        error = float(np.abs(fast - reference).max())
        if not error <= SELF_CHECK_TOLERANCE:
            logger.warning("Silero VAD runs on ONNX Runtime (slower): numpy network off by %.3g", error)
            return None
        return net

    @property
    def warmup_samples(self) -> int:
        """How much audio before a window `probabilities` can use (pass at least this much)."""
        return self._warmup_frames * FRAME_SAMPLES + CONTEXT_SAMPLES

    def probabilities(self, audio: Audio, *, warmup: Audio | None = None) -> Audio:
        """One probability per frame of `audio`: ceil(len / 512) frames, the last one zero-padded.

        `warmup` is the audio just before `audio` (None at the start of the file; shorter than
        `warmup_samples` is fine). It only settles the model state, so consecutive windows called
        with the previous window's tail give the frames of one continuous pass.
        """
        frames_out = frame_count(len(audio))
        if frames_out == 0:
            return np.zeros(0, dtype=np.float32)
        tail = np.zeros(0, dtype=np.float32) if warmup is None else warmup
        warm = min(self._warmup_frames, len(tail) // FRAME_SAMPLES)
        before = tail[max(0, len(tail) - warm * FRAME_SAMPLES - CONTEXT_SAMPLES) :]
        frames_in = len(before) // FRAME_SAMPLES + frames_out

        # Stretch k owns frames [first, stop) of `frames`, and starts its state `warmup_frames` earlier.
        firsts = np.arange(warm, warm + frames_out, self._stretch_frames)
        stops = np.minimum(firsts + self._stretch_frames, warm + frames_out)
        starts = np.maximum(firsts - self._warmup_frames, 0)
        steps = int((stops - starts).max())
        index = np.minimum(starts[:, None] + np.arange(steps)[None, :], frames_in - 1)

        if self._net is not None:
            gates = self._net.gate_inputs(_signal(before, audio), frames_in)
            outputs = self._net.lstm(gates, index)
        else:
            outputs = self._steps(_frames(before, audio), index)
        parts = [
            outputs[k, f - s : e - s] for k, (f, e, s) in enumerate(zip(firsts, stops, starts, strict=True))
        ]
        return np.concatenate(parts)

    def _steps(self, frames: Audio, index: npt.NDArray[np.intp]) -> Audio:
        """Run each row of `index` (frame numbers) as one sequence; all rows in one batch."""
        batch, steps = index.shape
        state = np.zeros((2, batch, STATE_SIZE), dtype=np.float32)
        outputs = np.empty((batch, steps), dtype=np.float32)
        for step in range(steps):
            output, state = self._session.run(
                ["output", "stateN"], {"input": frames[index[:, step]], "state": state, "sr": self._sr}
            )
            outputs[:, step] = output[:, 0]
        return outputs


def _signal(before: Audio, audio: Audio) -> Audio:
    """The samples of all frames: frame i's model input is signal[512 i : 512 i + 576].

    Frames cover `audio` (the last one zero-padded) and the whole frames of `before`, each frame with the
    64 samples before it (zeros before the file).
    """
    frames_in = len(before) // FRAME_SAMPLES + frame_count(len(audio))
    signal = np.zeros(frames_in * FRAME_SAMPLES + CONTEXT_SAMPLES, dtype=np.float32)
    # `before` is aligned to end where `audio` starts; it may be short of its context at the file start.
    offset = frames_in * FRAME_SAMPLES + CONTEXT_SAMPLES - frame_count(len(audio)) * FRAME_SAMPLES
    signal[offset - len(before) : offset] = before
    signal[offset : offset + len(audio)] = audio
    return signal


def _frames(before: Audio, audio: Audio) -> Audio:
    """Model inputs [n, 64 + 512]: each frame with the 64 samples before it (zeros before the file)."""
    windows = np.lib.stride_tricks.sliding_window_view(
        _signal(before, audio), FRAME_SAMPLES + CONTEXT_SAMPLES
    )
    return np.ascontiguousarray(windows[::FRAME_SAMPLES])


def _check_signal() -> Audio:
    """One second of a deterministic test signal: a chirp with a tone burst, over faint noise."""
    t = np.arange(SAMPLE_RATE, dtype=np.float64) / SAMPLE_RATE
    chirp = 0.3 * np.sin(2 * np.pi * (100 + 1500 * t) * t)
    burst = 0.5 * np.sin(2 * np.pi * 220 * t) * (np.abs(t - 0.5) < 0.2)
    noise = np.random.default_rng(0).normal(0, 0.01, len(t))
    return (chirp + burst + noise).astype(np.float32)
