"""The seam between the service and any speech recogniser.

This module imports no inference library (numpy only for type checking), so the HTTP layer can
depend on it. Engines are created in the application lifespan and imported lazily there.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Final, Protocol

from gigaam_api.transcript import ChunkResult

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

SAMPLE_RATE: Final = 16_000


class ASREngine(Protocol):
    """A speech recogniser that turns a batch of 16 kHz mono float32 chunks into results.

    One call is one unit of work for the scheduler: callers check for cancellation between calls.
    Implementations must be safe to call from one worker thread at a time (the scheduler's).
    """

    @property
    def model_id(self) -> str:
        """The canonical model name served, e.g. `gigaam-v3-ctc`."""
        ...

    @property
    def max_chunk_seconds(self) -> float:
        """The longest chunk the model accepts in one pass."""
        ...

    @property
    def frame_seconds(self) -> float:
        """Duration of one output frame (the token timestamp resolution)."""
        ...

    def transcribe_batch(self, chunks: Sequence[npt.NDArray[np.float32]]) -> list[ChunkResult]:
        """Recognise each chunk; token times are relative to the chunk's first sample."""
        ...
