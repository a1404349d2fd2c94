"""The speaker model the settings name, built lazily: its ONNX Runtime engine is imported only here."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from gigaam_api.speakers import weights
from gigaam_api.speakers.catalog import MODELS, described

if TYPE_CHECKING:
    from gigaam_api.config import Settings
    from gigaam_api.speakers.base import SpeakerEmbedder


def create_embedder(settings: Settings) -> SpeakerEmbedder:
    """Prepare the weights (fetching them unless offline) and load SPEAKER_MODEL on the CPU.

    Raises `WeightsUnavailableError` (the operator's message) or `ModelCardError` (a bad speaker.json).
    """
    from gigaam_api.speakers.onnx import OnnxSpeakerEmbedder

    model_dir = weights.ensure(settings)
    spec = described(MODELS[settings.SPEAKER_MODEL], model_dir)
    return OnnxSpeakerEmbedder(spec, model_dir, threads=settings.NUM_THREADS)


class LazyEmbedder:
    """The speaker model, loaded by the first call (a diarized request) and kept; a failed load is not
    remembered, so weights copied in later are found by the next request."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._embedder: SpeakerEmbedder | None = None

    def __call__(self) -> SpeakerEmbedder:
        with self._lock:
            if self._embedder is None:
                self._embedder = create_embedder(self._settings)
            return self._embedder
