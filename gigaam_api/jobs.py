"""What the HTTP layer sees of a transcription in progress (no inference imports here)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from gigaam_api.transcript import Segment


@dataclass(frozen=True, slots=True)
class Progress:
    """Audio up to `processed_seconds` is transcribed; `total_seconds` is None until decoding ends."""

    processed_seconds: float
    total_seconds: float | None


RunEvent = Segment | Progress


class Run(Protocol):
    @property
    def duration(self) -> float | None: ...

    def events(self) -> AsyncIterator[RunEvent]: ...

    async def aclose(self) -> None: ...


class Transcriber(Protocol):
    @property
    def model_id(self) -> str: ...

    @property
    def batches_run(self) -> int:
        """Inference batches run so far, across all requests (an observable for tests and ops)."""
        ...

    async def start(
        self, upload: Path, pcm_path: Path, *, charge: Callable[[int], None] | None = None
    ) -> Run: ...
