"""What a transcription request asks for, independent of how it arrived (a form, JSON, a stored job).

Parsed once at the edge (`options.form`); jobs store it as it is (`jobs.model.dump_options`), and the
worker, the result and the event stream read it back. Plain data, pure.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

from gigaam_api.engines.base import ServerVAD  # EngineOptions carries it to the pipeline
from gigaam_api.formats.render import ResponseFormat
from gigaam_api.transcript import NumberStyle

Granularity = Literal["word", "segment"]
GRANULARITIES: tuple[Granularity, ...] = ("word", "segment")
INCLUDES = ("logprobs", "progress")  # `progress`: this server's own stream events, on request


ChunkingStrategy = Literal["auto"] | ServerVAD


@dataclass(frozen=True, slots=True)
class TranscriptionOptions:
    model: str | None = None
    language: str | None = None
    prompt: str | None = None
    response_format: ResponseFormat = "json"
    temperature: float = 0.0
    timestamp_granularities: frozenset[Granularity] = field(default=frozenset({"segment"}))
    stream: bool = False
    include_logprobs: bool = False
    include_progress: bool = False
    chunking_strategy: ChunkingStrategy | None = None
    keywords: tuple[str, ...] = ()  # as sent (`keywords[]` or `hotwords[]`); checked against the engine
    keyword_boost: float | None = None
    languages: tuple[str, ...] = ()  # `languages[]`: ISO 639-1 codes, in the order sent
    numbers: NumberStyle | None = None  # None: the server's NUMBERS
    # Diarization (docs/speakers.md): on with `diarize`, response_format=diarized_json or the diarize
    # model alias; a speaker count hint; known speakers' names (their clips are files of the request).
    diarize: bool = False
    speakers: int | None = None
    min_speakers: int | None = None
    max_speakers: int | None = None
    known_speaker_names: tuple[str, ...] = ()
    # A stereo call: each channel one speaker (no speaker model); None: detected (docs/speakers.md).
    per_channel: bool | None = None
    # Translate the segment texts into this language (ISO 639-1) after transcribing (docs/translations.md).
    translate: str | None = None

    def rendered_as(self, rendering: TranscriptionOptions) -> TranscriptionOptions:
        """These options with `rendering`'s output choices (a job's result asked for another way)."""
        return dataclasses.replace(
            self,
            response_format=rendering.response_format,
            timestamp_granularities=rendering.timestamp_granularities,
            include_logprobs=rendering.include_logprobs,
            include_progress=rendering.include_progress,
        )
