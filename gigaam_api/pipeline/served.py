"""Every model one server serves, each behind its own Transcriber; the whole acts as the default one.

Factories that build a single Transcriber keep working: the HTTP layer treats any other Transcriber as
the one model served (`AppState.transcriber_for`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from gigaam_api.audio.spool import RequestFiles
from gigaam_api.engines.base import Capabilities, EngineOptions
from gigaam_api.live.events import LiveConfig, LiveLimits, LiveSession
from gigaam_api.pipeline.protocol import Resume, Run, Transcriber
from gigaam_api.speakers.options import DiarizationOptions


class ServedModels:
    def __init__(
        self, by_model: Mapping[str, Transcriber], default: str, *, batches_run: Callable[[], int]
    ) -> None:
        """`by_model` in the operator's order; `batches_run` counts across the devices' schedulers."""
        self.by_model = dict(by_model)
        self.default = default
        self._batches_run = batches_run

    @property
    def capabilities(self) -> Capabilities:
        return self.by_model[self.default].capabilities

    @property
    def model_state(self) -> str:
        return self.by_model[self.default].model_state

    @property
    def batches_run(self) -> int:
        return self._batches_run()

    async def start(
        self,
        upload: Path,
        files: RequestFiles,
        options: EngineOptions,
        *,
        resume: Resume | None = None,
        diarization: DiarizationOptions | None = None,
    ) -> Run:
        default = self.by_model[self.default]
        return await default.start(upload, files, options, resume=resume, diarization=diarization)

    def open_live(self, options: EngineOptions, config: LiveConfig, limits: LiveLimits) -> LiveSession:
        return self.by_model[self.default].open_live(options, config, limits)


def served_by_model(transcriber: Transcriber) -> dict[str, Transcriber]:
    """Model id → Transcriber for what a factory built: several models, or one."""
    if isinstance(transcriber, ServedModels):
        return transcriber.by_model
    return {transcriber.capabilities.model_id: transcriber}
