"""One model's `protocol.Transcriber`: starts `PipelineRun`s on its engine and its device's scheduler."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from gigaam_api.audio.spool import RequestFiles
from gigaam_api.engines.base import Capabilities, EngineOptions
from gigaam_api.pipeline.protocol import Resume
from gigaam_api.pipeline.run import PipelineRun, RunParts
from gigaam_api.speakers.options import DiarizationOptions


class PipelineTranscriber:
    def __init__(self, parts: RunParts, *, model_state: Callable[[], str] = lambda: "loaded") -> None:
        self._parts = parts
        self._model_state = model_state

    @property
    def model_state(self) -> str:
        return self._model_state()

    @property
    def capabilities(self) -> Capabilities:
        return self._parts.engine.capabilities

    @property
    def batches_run(self) -> int:
        return self._parts.scheduler.batches_run

    async def start(
        self,
        upload: Path,
        files: RequestFiles,
        options: EngineOptions,
        *,
        resume: Resume | None = None,
        diarization: DiarizationOptions | None = None,
    ) -> PipelineRun:
        run = PipelineRun(self._parts, upload, files, options, resume, diarization=diarization)
        try:
            await run.begin()
        except BaseException:
            await run.aclose()
            raise
        return run
