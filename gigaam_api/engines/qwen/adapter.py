"""Qwen3-ASR behind the engine protocol: qwen-asr's transformers backend in, text and language out.

Everything peculiar to Qwen3-ASR stays here: language names instead of codes, the request's prompt as
its context, word times only from the separate forced aligner, no token log-probabilities, and the
shortest audio worth a pass (qwen-asr pads what it splits off to half a second; we do the same).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from gigaam_api.audio.rate import SAMPLE_RATE
from gigaam_api.config import Settings
from gigaam_api.engines.base import Capabilities, ChunkPolicy, ChunkResult, EngineOptions
from gigaam_api.engines.qwen.device import check_loaded_device, probe_device
from gigaam_api.engines.qwen.languages import QWEN_NAMES, UNSPACED, detected_code
from gigaam_api.transcript import Word

if TYPE_CHECKING:
    from gigaam_api.engines.qwen.device import QwenDevice

log = logging.getLogger(__name__)

# qwen-asr's limits (inference/utils.py): one pass takes up to 20 minutes, or 3 with the forced aligner.
MAX_SECONDS = 1200.0
MAX_ALIGNED_SECONDS = 180.0
# Audio past the limit is cut by the VAD at the first pause past this (qwen-asr cuts at low energy).
PREFERRED_SECONDS = 600.0
# Shorter than 0.1 s (about one encoder output frame) holds nothing to transcribe: an empty result.
MIN_SAMPLES = SAMPLE_RATE // 10
PAD_SAMPLES = SAMPLE_RATE // 2  # qwen-asr's MIN_ASR_INPUT_SECONDS


def capabilities(settings: Settings, device: QwenDevice | None = None) -> Capabilities:
    """What the engine for `settings.MODEL` declares, known before (and without) loading it."""
    chosen = device or probe_device(settings.QWEN_DEVICE)
    aligned = settings.QWEN_ALIGNER is not None
    longest = MAX_ALIGNED_SECONDS if aligned else MAX_SECONDS
    return Capabilities(
        model_id=settings.MODEL,
        # Takes long context itself: audio up to its limit goes in whole, as qwen-asr does.
        chunks=ChunkPolicy(longest, preferred_seconds=min(PREFERRED_SECONDS, longest), whole=True),
        languages=frozenset(QWEN_NAMES),
        word_timestamps=aligned,
        token_logprobs=False,
        device=chosen.device,
        runtime="transformers",
        precision=chosen.precision,
        detail=chosen.reason + (f"; words timed by {settings.QWEN_ALIGNER}" if aligned else ""),
        unspaced_languages=UNSPACED,
    )


def words_from_alignment(items: Sequence[Any], length: float) -> tuple[Word, ...]:
    """The aligner's items (text, start_time, end_time in seconds) as words inside [0, length], in order."""
    words: list[Word] = []
    floor = 0.0
    for item in items:
        text = str(item.text).strip()
        if not text:
            continue
        start = min(max(float(item.start_time), floor), length)
        end = min(max(float(item.end_time), start), length)
        words.append(Word(text, round(start, 3), round(end, 3)))
        floor = end
    return tuple(words)


class QwenEngine:
    """`model` is a loaded `qwen_asr.Qwen3ASRModel` (its forced aligner too, when one is configured)."""

    def __init__(self, model: Any, capabilities: Capabilities) -> None:
        self._model = model
        self._capabilities = capabilities

    @property
    def capabilities(self) -> Capabilities:
        return self._capabilities

    def transcribe_batch(
        self, chunks: Sequence[npt.NDArray[np.float32]], options: EngineOptions
    ) -> list[ChunkResult]:
        aligned = self._capabilities.word_timestamps
        empty = ChunkResult("", words=() if aligned else None, language=options.language)
        results = [empty for _ in chunks]
        audible = [i for i, chunk in enumerate(chunks) if len(chunk) >= MIN_SAMPLES]
        if not audible:
            return results
        audio = [(_padded(chunks[i]), SAMPLE_RATE) for i in audible]
        language = QWEN_NAMES[options.language] if options.language else None
        out = self._model.transcribe(
            audio=audio, context=options.prompt or "", language=language, return_time_stamps=aligned
        )
        for i, result in zip(audible, out, strict=True):
            text = str(result.text).strip()
            words = None
            if aligned:
                stamps = result.time_stamps
                words = words_from_alignment(stamps.items if stamps else (), len(chunks[i]) / SAMPLE_RATE)
            results[i] = ChunkResult(
                text, words=words, language=options.language or detected_code(str(result.language))
            )
        return results


def _padded(chunk: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    if len(chunk) >= PAD_SAMPLES:
        return chunk
    return np.pad(chunk, (0, PAD_SAMPLES - len(chunk))).astype(np.float32)


def create(settings: Settings, model_dir: Path) -> QwenEngine:
    """The registry's factory: `model_dir` holds the hub repository's files for `settings.MODEL`."""
    from gigaam_api.engines.qwen.floats import import_qwen_asr
    from gigaam_api.engines.qwen.weights import aligner_dir

    import_qwen_asr()
    import torch
    from qwen_asr import Qwen3ASRModel  # type: ignore[import-untyped]

    device = probe_device(settings.QWEN_DEVICE)
    check_loaded_device(device)
    caps = capabilities(settings, device)
    dtype = torch.bfloat16 if device.precision == "bf16" else torch.float32
    if device.device == "cpu":
        torch.set_num_threads(settings.NUM_THREADS)
    log.info("loading %s on %s (transformers, %s)", settings.MODEL, device.device, device.precision)
    load: dict[str, Any] = {"dtype": dtype, "device_map": device.device}
    aligner = aligner_dir(settings)
    model = Qwen3ASRModel.from_pretrained(
        str(model_dir),
        forced_aligner=str(aligner) if aligner is not None else None,
        forced_aligner_kwargs=dict(load) if aligner is not None else None,
        max_new_tokens=settings.QWEN_MAX_NEW_TOKENS,
        **load,
    )
    return QwenEngine(model, caps)
