"""The seam between the service and any speech recogniser: what an engine can do, and what it returns.

This module imports no inference library (numpy only for type checking), so the HTTP layer can depend
on it. Engines are created in the application lifespan through the registry and imported lazily there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from gigaam_api.transcript import NumberStyle, Token, Word

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt


class EngineUnavailableError(Exception):
    """An engine cannot run here as configured; the message tells the operator what to do.

    Every family raises a subclass of this (or this) for a problem of the machine or the settings, so
    the app and the CLI catch one class, whatever the family.
    """


class RuntimeSelectionError(EngineUnavailableError):
    """The settings ask for a runtime, device or precision this machine cannot run."""


class WeightsUnavailableError(EngineUnavailableError):
    """The weights are not on disk and could not be fetched; the message tells the operator what to do."""


@dataclass(frozen=True, slots=True)
class ChunkPolicy:
    """How audio reaches an engine; the pipeline applies it (pipeline/chunk_plan.py).

    `whole=False`: the model is best on short chunks; audio longer than `DIRECT_MAX_SECONDS` (at most
    `longest_seconds`) is cut by the VAD after the `VAD_*` settings. `whole=True`: the model takes long
    context itself; audio up to `longest_seconds` goes in whole, in one pass, and only longer audio is
    cut by the VAD, into chunks closed at the first pause past `preferred_seconds`.
    """

    longest_seconds: float  # the longest chunk the model accepts in one pass
    preferred_seconds: float  # what a VAD cut aims at when long audio must be cut
    whole: bool

    def __post_init__(self) -> None:
        if not 0 < self.preferred_seconds <= self.longest_seconds:
            raise ValueError("need 0 < preferred_seconds <= longest_seconds")


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What an engine declares about itself; the pipeline and the HTTP layer plan with this alone."""

    model_id: str
    chunks: ChunkPolicy
    languages: frozenset[str]  # ISO 639-1 codes it transcribes
    word_timestamps: bool  # results carry `words`
    token_logprobs: bool  # results carry `tokens` with log-probabilities
    device: str  # where it runs: "cpu", "cuda", "gpu"
    runtime: str  # what runs it, e.g. "onnxruntime" or "openvino"
    precision: str  # e.g. "fp32", "int8"
    keywords: bool = False  # takes EngineOptions.keywords (biases recognition toward them)
    keyword_letters: frozenset[str] = frozenset()  # the letters a keyword phrase may use
    detail: str = ""  # why this runtime/device/precision was chosen, for /health and the start-up log
    # `transcribe_batch` may run on several threads at once (the scheduler's inference streams); a device
    # serving an engine that says no keeps one stream.
    parallel_calls: bool = False
    streams: int = 1  # the calls it was built to run at once (`cpus.plan_streams`), for /health
    # Languages whose text runs without spaces between words (Chinese, Japanese, Thai): segments of a
    # transcript in one of them are joined with nothing between them, others with one space.
    unspaced_languages: frozenset[str] = frozenset()

    def separator(self, language: str | None) -> str:
        """What goes between two segments' texts in `language` (a code from `languages`, or None)."""
        return "" if language in self.unspaced_languages else " "


@dataclass(frozen=True, slots=True)
class ServerVAD:
    """`chunking_strategy={type: server_vad, ...}`; None means "not given, use the server's default"."""

    prefix_padding_ms: int | None = None
    silence_duration_ms: int | None = None
    threshold: float | None = None


@dataclass(frozen=True, slots=True)
class EngineOptions:
    """Request options an engine may use. `language` is an ISO 639-1 code the engine declared."""

    language: str | None = None
    prompt: str | None = None
    # Phrases to prefer, normalised by engines.keywords.normalise_keywords; only for engines whose
    # Capabilities.keywords is true. None boost: engines.keywords.DEFAULT_BOOST.
    keywords: tuple[str, ...] = ()
    keyword_boost: float | None = None
    # Not for the engine: the pipeline cuts this request's audio with these VAD knobs (every chunk
    # ends at a pause). Here so it travels with the run and belongs to the dedup key.
    server_vad: ServerVAD | None = None
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
    Implementations must be safe to call from one worker thread at a time (the scheduler's; from as many
    as their `streams` at once if they declare `parallel_calls`), must accept
    any chunk from one sample up to `chunks.longest_seconds`, and return one result per chunk, in order.
    """

    @property
    def capabilities(self) -> Capabilities: ...

    def transcribe_batch(
        self, chunks: Sequence[npt.NDArray[np.float32]], options: EngineOptions
    ) -> list[ChunkResult]: ...
