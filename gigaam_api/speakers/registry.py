"""The speaker model the settings name, built lazily: its runtime is imported only here."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from gigaam_api.cpus import plan_streams
from gigaam_api.speakers import weights
from gigaam_api.speakers.catalog import MODELS, described
from gigaam_api.speakers.runtime import choose, probe

if TYPE_CHECKING:
    from gigaam_api.config import Settings
    from gigaam_api.speakers.base import SpeakerEmbedder

log = logging.getLogger(__name__)


def create_embedder(settings: Settings, streams: int = 1) -> SpeakerEmbedder:
    """Prepare the weights (fetching them unless offline) and load SPEAKER_MODEL on the CPU, for `streams`
    calls at once (the CPU's inference streams, which it runs on) sharing NUM_THREADS.

    Raises `WeightsUnavailableError` (the operator's message), `ModelCardError` (a bad speaker.json) or
    `RuntimeSelectionError` (SPEAKER_RUNTIME/SPEAKER_PRECISION this machine cannot run).
    """
    from gigaam_api.speakers.onnx import OnnxSpeakerEmbedder

    choice = choose(settings.SPEAKER_RUNTIME, settings.SPEAKER_PRECISION, probe())
    model_dir = weights.ensure(settings)
    spec = described(MODELS[settings.SPEAKER_MODEL], model_dir)
    plan = plan_streams(settings.NUM_THREADS, streams, parallel_calls=True)
    embedder = OnnxSpeakerEmbedder(spec, model_dir, plan=plan, choice=choice)
    log.info(
        "speaker model %s on the CPU: %s; %d stream(s) of %d threads",
        spec.name,
        choice.describe(),
        plan.streams,
        plan.threads,
    )
    return embedder


class LazyEmbedder:
    """The speaker model, loaded by the first call (a diarized request) and kept; a failed load is not
    remembered, so weights copied in later are found by the next request."""

    def __init__(self, settings: Settings, streams: int = 1) -> None:
        self._settings = settings
        self._streams = streams
        self._lock = threading.Lock()
        self._embedder: SpeakerEmbedder | None = None

    def __call__(self) -> SpeakerEmbedder:
        with self._lock:
            if self._embedder is None:
                self._embedder = create_embedder(self._settings, self._streams)
            return self._embedder
