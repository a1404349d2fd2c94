"""The seam between the service and any speech recogniser: what an engine can do, and what it returns.

This module imports no inference library (numpy only for type checking), so the HTTP layer can depend
on it. Engines are created in the application lifespan through the registry and imported lazily there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal, Protocol

from gigaam_api.transcript import Token, Word

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

SAMPLE_RATE: Final = 16_000

NumberStyle = Literal["words", "digits"]  # numbers as recognised, or rewritten as digits
NUMBER_STYLES: tuple[NumberStyle, ...] = ("words", "digits")


class WeightsUnavailableError(Exception):
    """The weights are not on disk and could not be fetched; the message tells the operator what to do."""


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What an engine declares about itself; the pipeline and the HTTP layer plan with this alone."""

    model_id: str
    max_chunk_seconds: float  # the longest chunk the model accepts in one pass
    languages: frozenset[str]  # ISO 639-1 codes it transcribes
    word_timestamps: bool  # results carry `words`
    token_logprobs: bool  # results carry `tokens` with log-probabilities
    device: str  # where it runs: "cpu", "cuda", "gpu"
    runtime: str  # what runs it, e.g. "onnxruntime" or "openvino"
    precision: str  # e.g. "fp32", "int8"
    keywords: bool = False  # takes EngineOptions.keywords (biases recognition toward them)
    keyword_letters: frozenset[str] = frozenset()  # the letters a keyword phrase may use
    detail: str = ""  # why this runtime/device/precision was chosen, for /health and the start-up log


@dataclass(frozen=True, slots=True)
class EngineOptions:
    """Request options an engine may use. `language` is an ISO 639-1 code the engine declared."""

    language: str | None = None
    prompt: str | None = None
    # Phrases to prefer, normalised by engines.keywords.normalise_keywords; only for engines whose
    # Capabilities.keywords is true. None boost: engines.keywords.DEFAULT_BOOST.
    keywords: tuple[str, ...] = ()
    keyword_boost: float | None = None
    # Not for the engine: the pipeline rewrites its results after it (gigaam_api.numbers), for any
    # engine. Here so every run, and the key runs are shared and cached under, carries it.
    numbers: NumberStyle = "words"


@dataclass(frozen=True, slots=True)
class ChunkResult:
    """An engine's result for one chunk. Times are in seconds from the chunk's first sample.

    `words` is None when the engine cannot time words; `tokens` is None when it gives no token detail.
    """

    text: str
    words: tuple[Word, ...] | None = None
    tokens: tuple[Token, ...] | None = None
    language: str | None = None  # the language the engine used or detected, if it knows


class ASREngine(Protocol):
    """A speech recogniser that turns a batch of 16 kHz mono float32 chunks into results.

    One call is one unit of work for the scheduler: callers check for cancellation between calls.
    Implementations must be safe to call from one worker thread at a time (the scheduler's), must accept
    any chunk from one sample up to `max_chunk_seconds`, and return one result per chunk, in order.
    """

    @property
    def capabilities(self) -> Capabilities: ...

    def transcribe_batch(
        self, chunks: Sequence[npt.NDArray[np.float32]], options: EngineOptions
    ) -> list[ChunkResult]: ...
