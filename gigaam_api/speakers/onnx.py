"""Speaker embeddings on ONNX Runtime (CPU), with the front end the model directory declares.

`kaldi-fbank80` models (WeSpeaker's exports: `feats` in, `embs` out) run through onnx-asr's
`WespeakerEmbeddings` and its NumPy `wespeaker` fbank; `waveform` models take the samples as they are.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
from onnx_asr.models.wespeaker import WespeakerEmbeddings
from onnx_asr.onnx import OnnxSessionOptions
from onnx_asr.preprocessors.numpy_preprocessor import KaldiPreprocessorNumpy

from gigaam_api.audio.rate import SAMPLE_RATE
from gigaam_api.speakers.base import SpeakerCapabilities
from gigaam_api.speakers.catalog import SpeakerModelSpec

Pcm = npt.NDArray[np.float32]
CPU = "CPUExecutionProvider"
# Windows per run. A convolutional model's activations grow with the batch: WeSpeaker's ResNet34 peaked at
# +395 MB at 32 windows of 1.5 s, +149 MB at 8, at the same speed per window (measured: docs/speakers.md).
MAX_BATCH = 8


def _session_options(threads: int) -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return options


class OnnxSpeakerEmbedder:
    def __init__(self, spec: SpeakerModelSpec, model_dir: Path, *, threads: int) -> None:
        options = _session_options(threads)
        onnx_options: OnnxSessionOptions = {"sess_options": options, "providers": [CPU]}
        model = model_dir / spec.onnx_file
        self._wespeaker: WespeakerEmbeddings | None = None
        self._session: ort.InferenceSession | None = None
        if spec.frontend == "kaldi-fbank80":
            self._wespeaker = WespeakerEmbeddings({"model": model}, KaldiPreprocessorNumpy, onnx_options)
        else:
            self._session = ort.InferenceSession(model, options, providers=[CPU])
        self._capabilities = SpeakerCapabilities(
            model_id=spec.name,
            sample_rate=SAMPLE_RATE,
            window_seconds=spec.window_seconds,
            hop_seconds=spec.hop_seconds,
            embedding_dim=spec.embedding_dim,
            same_speaker_similarity=spec.same_speaker_similarity,
            cluster_similarity=spec.cluster_similarity,
            frontend=spec.frontend,
            detail=spec.source,
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
            for first in range(0, len(indices), MAX_BATCH):
                part = indices[first : first + MAX_BATCH]
                out[part] = self._run(np.stack([windows[i] for i in part]))
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-8)
        return out

    def _run(self, batch: Pcm) -> npt.NDArray[np.float32]:
        if self._wespeaker is not None:
            lengths = np.full(len(batch), batch.shape[1], dtype=np.int64)
            return self._wespeaker.embedding(batch, lengths)
        assert self._session is not None
        (result,) = self._session.run(["embedding"], {"waveform": batch})
        return np.asarray(result, dtype=np.float32)
