"""GigaAM on ONNX Runtime or OpenVINO, through onnx-asr's preprocessor and decoders."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnx_asr

from gigaam_api.asr.catalog import MODELS
from gigaam_api.asr.engine import SAMPLE_RATE
from gigaam_api.engines.gigaam.loader import load_recognizer
from gigaam_api.engines.runtime import RuntimeChoice
from gigaam_api.transcript import ChunkResult, Token

WORD_PIECE = "\u2581"  # the vocabulary's word-start mark; onnx-asr turns it into a space


def read_vocab(path: Path) -> dict[str, int]:
    """Token text (as onnx-asr reports it, word mark as a space) → token id."""
    vocab: dict[str, int] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            token, token_id = line.rsplit(" ", 1)
            vocab[token.replace(WORD_PIECE, " ")] = int(token_id)
    return vocab


class GigaamOnnxEngine:
    """The default engine. `model_dir` holds the hub repository's files for `model`."""

    frame_seconds = 0.04  # 10 ms feature hop x subsampling 4
    max_chunk_seconds = 30.0

    def __init__(self, model_dir: Path, model: str, *, choice: RuntimeChoice, num_threads: int) -> None:
        self._model_id = model
        self.runtime = choice
        self._asr = load_recognizer(model_dir, model, choice, num_threads)
        self._vocab = read_vocab(model_dir / MODELS[model].vocab)

    @property
    def model_id(self) -> str:
        return self._model_id

    def transcribe_batch(self, chunks: Sequence[npt.NDArray[np.float32]]) -> list[ChunkResult]:
        if not chunks:
            return []
        waveforms: list[str | Path | npt.NDArray[np.float32]] = list(chunks)
        results = self._asr.recognize(waveforms, sample_rate=SAMPLE_RATE)
        return [self._convert(r) for r in results]

    def _convert(self, result: onnx_asr.asr.TimestampedResult) -> ChunkResult:
        texts = result.tokens or []
        times = result.timestamps or []
        logprobs = result.logprobs or [0.0] * len(texts)
        tokens = tuple(
            Token(self._vocab.get(text, -1), text, float(start), float(lp))
            for text, start, lp in zip(texts, times, logprobs, strict=False)
        )
        return ChunkResult(result.text, tokens)
