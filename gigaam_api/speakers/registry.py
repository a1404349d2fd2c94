"""The speaker model the settings name, built lazily: its runtime is imported only here."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from gigaam_api.speakers import weights
from gigaam_api.speakers.catalog import MODELS, described
from gigaam_api.speakers.runtime import choose, probe

if TYPE_CHECKING:
    from gigaam_api.config import Settings
    from gigaam_api.speakers.base import SpeakerEmbedder

log = logging.getLogger(__name__)


def create_embedder(settings: Settings) -> SpeakerEmbedder:
    """Prepare the weights (fetching them unless offline) and load SPEAKER_MODEL on the CPU.

    Raises `WeightsUnavailableError` (the operator's message), `ModelCardError` (a bad speaker.json) or
    `RuntimeSelectionError` (SPEAKER_RUNTIME/SPEAKER_PRECISION this machine cannot run).
    """
    from gigaam_api.speakers.onnx import OnnxSpeakerEmbedder

    choice = choose(settings.SPEAKER_RUNTIME, settings.SPEAKER_PRECISION, probe())
    model_dir = weights.ensure(settings)
    spec = described(MODELS[settings.SPEAKER_MODEL], model_dir)
    embedder = OnnxSpeakerEmbedder(spec, model_dir, threads=settings.NUM_THREADS, choice=choice)
    log.info("speaker model %s on the CPU: %s", spec.name, choice.describe())
    return embedder


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
