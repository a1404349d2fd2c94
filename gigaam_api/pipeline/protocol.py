"""What the HTTP layer sees of a transcription in progress (no inference imports here)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from gigaam_api.audio.spool import RequestFiles
from gigaam_api.engines.base import Capabilities, EngineOptions
from gigaam_api.live.events import LiveConfig, LiveLimits, LiveSession
from gigaam_api.speakers.options import DiarizationOptions
from gigaam_api.speakers.turns import Turn
from gigaam_api.transcript import Segment


@dataclass(frozen=True, slots=True)
class Progress:
    """Audio up to `processed_seconds` is transcribed; `total_seconds` is None until decoding ends.

    Until then `estimated_total_seconds` is the length the file's header declares, if it declares one.
    """

    processed_seconds: float
    total_seconds: float | None
    estimated_total_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class SpeakerTurns:
    """A diarized run's last event: every speaker turn with its final label.

    The segments streamed before it carry online labels (the speakers found so far); the final result
    is `speakers.turns.attribute(segments, turns)`, which relabels and re-splits them.
    """

    turns: tuple[Turn, ...]


RunEvent = Segment | Progress | SpeakerTurns


@dataclass(frozen=True, slots=True)
class Resume:
    """A job's run: batch priority, and skip the audio whose segments are already stored.

    `done_seconds` is where the last stored batch ended; chunks ending there or earlier are not run
    again (the decoder and the VAD are deterministic, so the chunks are the same as in the first run).
    """

    done_seconds: float = 0.0
    next_segment_id: int = 0


class Run(Protocol):
    """A transcription in progress (`pipeline.run.PipelineRun`, or a shared run of `dedup/`)."""

    @property
    def duration(self) -> float | None: ...

    @property
    def language(self) -> str | None:
        """The language the engine used or detected (ISO 639-1), once known."""
        ...

    def events(self) -> AsyncIterator[RunEvent]: ...

    async def aclose(self) -> None: ...


class Transcriber(Protocol):
    """Starts runs: one model (`pipeline.transcriber.PipelineTranscriber`) or all served (`ServedModels`)."""

    @property
    def capabilities(self) -> Capabilities: ...

    @property
    def model_state(self) -> str:
        """`loaded`, `loading` (again, after an idle unload) or `unloaded` (IDLE_UNLOAD_SECONDS)."""
        ...

    @property
    def batches_run(self) -> int:
        """Inference batches run so far, across all requests (an observable for tests and ops)."""
        ...

    async def start(
        self,
        upload: Path,
        files: RequestFiles,
        options: EngineOptions,
        *,
        resume: Resume | None = None,
        diarization: DiarizationOptions | None = None,
    ) -> Run:
        """Start decoding `upload` (its decoded audio goes into a new file of `files`); 400 if unusable.

        With `resume` (a job), the run has batch priority and skips what `resume` says is done.
        With `diarization`, segments carry speakers and the run ends with `SpeakerTurns`."""
        ...

    def open_live(self, options: EngineOptions, config: LiveConfig, limits: LiveLimits) -> LiveSession:
        """A live session on this model, its work on the device's interactive lane (`live/session.py`)."""
        ...
