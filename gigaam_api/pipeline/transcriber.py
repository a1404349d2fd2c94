"""One model's `protocol.Transcriber`: starts `PipelineRun`s on its engine and its device's scheduler."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import TypeVar

from gigaam_api.audio.decode import audio_channels
from gigaam_api.audio.spool import RequestFiles
from gigaam_api.audio.stereo_call import detect_stereo_call
from gigaam_api.engines.base import Capabilities, EngineOptions
from gigaam_api.errors import bad_request
from gigaam_api.live.events import LiveConfig, LiveLimits
from gigaam_api.live.recognizer import LaneRecognizer
from gigaam_api.live.session import Session
from gigaam_api.pipeline.channels import CHANNELS, ChannelRuns
from gigaam_api.pipeline.protocol import Resume, Run
from gigaam_api.pipeline.run import PipelineRun, RunParts
from gigaam_api.pipeline.scheduler import InferenceScheduler, Ticket
from gigaam_api.speakers.options import DiarizationOptions

T = TypeVar("T")


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

    def open_live(self, options: EngineOptions, config: LiveConfig, limits: LiveLimits) -> Session:
        """A live session whose every inference is interactive: it goes before uploads and jobs."""
        scheduler = self._parts.scheduler
        lane = TicketLane(scheduler, scheduler.open_ticket(interactive=True))
        return Session(LaneRecognizer(self._parts.engine, lane, options), self._parts.vad, config, limits)

    async def start(
        self,
        upload: Path,
        files: RequestFiles,
        options: EngineOptions,
        *,
        resume: Resume | None = None,
        diarization: DiarizationOptions | None = None,
    ) -> PipelineRun | ChannelRuns:
        if await splits_by_channel(upload, diarization):
            return await self._start_channels(upload, files, options, resume)
        return await self._start(
            PipelineRun(self._parts, upload, files, options, resume, diarization=diarization)
        )

    async def _start_channels(
        self, upload: Path, files: RequestFiles, options: EngineOptions, resume: Resume | None
    ) -> PipelineRun | ChannelRuns:
        """A stereo call, channel by channel (`pipeline/channels.py`); a 400 for any other recording."""
        channels = await asyncio.to_thread(audio_channels, upload)
        if channels is None:  # not audio: the ordinary run says why
            return await self._start(PipelineRun(self._parts, upload, files, options, resume))
        if channels != CHANNELS:
            raise bad_request(
                f"per_channel needs a two-channel (stereo) recording, one speaker a channel; this one has "
                f"{channels} channel{'s' if channels != 1 else ''}.",
                param="per_channel",
            )
        runs: list[Run] = []
        try:
            for channel in range(CHANNELS):
                run = PipelineRun(self._parts, upload, files, options, resume, channel=channel)
                runs.append(await self._start(run))
        except BaseException:
            for started in runs:
                await started.aclose()
            raise
        return ChannelRuns(runs)

    @staticmethod
    async def _start(run: PipelineRun) -> PipelineRun:
        try:
            await run.begin()
        except BaseException:
            await run.aclose()
            raise
        return run


async def splits_by_channel(upload: Path, diarization: DiarizationOptions | None) -> bool:
    """Diarize channel by channel: asked for, or (per_channel unset) the upload is detected as a stereo
    call, one speaker a channel, and no hint rules that out (known speakers, a count that excludes two)."""
    if diarization is None or diarization.per_channel is not None:
        return bool(diarization and diarization.per_channel)
    low, high = diarization.count_bounds()
    if diarization.known_speakers or low > 2 or (high is not None and high < 2):
        return False
    return await asyncio.to_thread(detect_stereo_call, upload)


class TicketLane:
    """A live session's lane: one interactive ticket, held for the whole session."""

    def __init__(self, scheduler: InferenceScheduler, ticket: Ticket) -> None:
        self._scheduler = scheduler
        self._ticket = ticket

    def submit(self, work: Callable[[], T]) -> Future[T]:
        return self._scheduler.submit(self._ticket, work)

    def close(self) -> None:
        self._scheduler.close_ticket(self._ticket)
