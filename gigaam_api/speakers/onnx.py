"""Speaker embeddings on the CPU (ONNX Runtime or OpenVINO), with the front end the model directory declares.

`kaldi-fbank80` models (WeSpeaker's exports: `feats` in, `embs` out) take onnx-asr's NumPy `wespeaker`
fbank, mean-normalised per window as its `WespeakerEmbeddings` does; `waveform` models take the samples
as they are.
Either way the graph sits behind `InferenceSession.run`'s signature: ONNX Runtime's own session, or an
OpenVINO compiled model (speakers/openvino.py) chosen by speakers/runtime.py.

It runs on the inference workers right after their batch, so it gets the ASR model's stream plan: as many
calls at once as inference streams, each on its stream's threads (a session per stream on ONNX Runtime,
whose concurrent runs of one session would share its one thread pool; CPU streams on OpenVINO).
"""

from __future__ import annotations

import queue
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
from onnx_asr.preprocessors.numpy_preprocessor import KaldiPreprocessorNumpy

from gigaam_api.audio.rate import SAMPLE_RATE
from gigaam_api.cpus import StreamPlan
from gigaam_api.speakers.base import SpeakerCapabilities
from gigaam_api.speakers.catalog import SpeakerModelSpec
from gigaam_api.speakers.runtime import SpeakerRuntimeChoice

Pcm = npt.NDArray[np.float32]
CPU = "CPUExecutionProvider"
# Windows per run. Activations grow with the batch (WeSpeaker's ResNet34 peaked at +395 MB at 32 windows of
# 1.5 s, +149 MB at 8); with CAM++ in the service, 4 instead of 8 (and the smaller runtime cache in
# speakers/openvino.py) took diarization's extra peak RSS from +148 to +134 MB for +1.7 points of time
# (docs/speakers.md).
MAX_BATCH = 4


class Session(Protocol):
    """What the embedder calls on a model: `onnxruntime.InferenceSession.run`'s signature."""

    def run(self, output_names: Sequence[str], feeds: Mapping[str, Any]) -> list[Any]: ...


def _session_options(threads: int) -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # Idle pool threads sleep instead of spinning for the next op: 12-15 % less CPU per window, measured
    # (bench/speaker_engine.py), which the transcription beside it gets instead.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


class SessionPool:
    """Sessions lent to one call each: as many calls at once as sessions, any more wait for one."""

    def __init__(self, sessions: Sequence[Session]) -> None:
        self._free: queue.SimpleQueue[Session] = queue.SimpleQueue()
        for session in sessions:
            self._free.put(session)

    def run(self, output_names: Sequence[str], feeds: Mapping[str, Any]) -> list[Any]:
        session = self._free.get()
        try:
            return session.run(output_names, feeds)
        finally:
            self._free.put(session)


def _session(
    model: Path, choice: SpeakerRuntimeChoice, plan: StreamPlan, example: Mapping[str, Pcm]
) -> Session:
    if choice.runtime == "openvino":
        from gigaam_api.speakers.openvino import compile_model

        return compile_model(model, choice, plan, example)
    options = _session_options(plan.threads)
    sessions: list[Session] = [
        ort.InferenceSession(model, options, providers=[CPU]) for _ in range(plan.streams)
    ]
    return sessions[0] if plan.streams == 1 else SessionPool(sessions)


class OnnxSpeakerEmbedder:
    def __init__(
        self, spec: SpeakerModelSpec, model_dir: Path, *, plan: StreamPlan, choice: SpeakerRuntimeChoice
    ) -> None:
        self._fbank = KaldiPreprocessorNumpy("wespeaker") if spec.frontend == "kaldi-fbank80" else None
        self._output, self._input = (
            ("embs", "feats") if self._fbank is not None else ("embedding", "waveform")
        )
        silence = np.zeros((1, round(spec.window_seconds * SAMPLE_RATE)), dtype=np.float32)
        example = {self._input: self._inputs(silence)}  # one window, for a runtime to warm up on
        self._session = _session(model_dir / spec.onnx_file, choice, plan, example)
        self._capabilities = SpeakerCapabilities(
            model_id=spec.name,
            sample_rate=SAMPLE_RATE,
            window_seconds=spec.window_seconds,
            hop_seconds=spec.hop_seconds,
            embedding_dim=spec.embedding_dim,
            same_speaker_similarity=spec.same_speaker_similarity,
            cluster_similarity=spec.cluster_similarity,
            frontend=spec.frontend,
            runtime=choice.runtime,
            precision=choice.precision,
            streams=plan.streams,
            threads=plan.threads,
            detail=f"{spec.source}; {choice.reason}" if spec.source else choice.reason,
        )

    @property
    def capabilities(self) -> SpeakerCapabilities:
        return self._capabilities

    def embed(self, windows: Sequence[Pcm]) -> npt.NDArray[np.float32]:
        """One unit-length row per window, in order; windows of one length share a run."""
        out = np.empty((len(windows), self._capabilities.embedding_dim), dtype=np.float32)
        by_length: defaultdict[int, list[int]] = defaultdict(list)
        for index, window in enumerate(windows):
            by_length[len(window)].append(index)
        for indices in by_length.values():
            # Every window's features before the first run: OpenVINO's threads spin on after a run,
            # so features computed between runs cost both cores (measured: 22 -> 17 CPU ms per window).
            inputs = self._inputs(np.stack([windows[i] for i in indices]))
            # Runs of even size: a short last run costs nearly what a full one does (CAM++: 11 windows as
            # 8 + 3 took 18.5 CPU ms per window, 11.4 at 8 per run).
            runs = -(-len(indices) // MAX_BATCH)
            for part in np.array_split(np.arange(len(indices)), runs):
                out[[indices[i] for i in part]] = self._run(inputs[part[0] : part[-1] + 1])
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-8)
        return out

    def _inputs(self, batch: Pcm) -> Pcm:
        if self._fbank is None:
            return batch
        features, _ = self._fbank(batch, np.full(len(batch), batch.shape[1], dtype=np.int64))
        return np.asarray(features - features.mean(axis=1, keepdims=True), dtype=np.float32)

    def _run(self, inputs: Pcm) -> npt.NDArray[np.float32]:
        (result,) = self._session.run([self._output], {self._input: inputs})
        return np.asarray(result, dtype=np.float32)
