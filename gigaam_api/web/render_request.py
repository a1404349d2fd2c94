"""The body of POST /web/render, validated: the segments the page streamed, as a `Transcript`. Pure.

The body is strict JSON (`strict_json`: no NaN/Infinity/1e400, no lone surrogates), its times are
finite and non-negative, the duration and every segment's and word's time are at most
MAX_AUDIO_SECONDS (nothing longer is transcribed; a finite 1e305 would overflow a subtitle's
milliseconds), and there are at most MAX_ITEMS_PER_SECOND segments and as many words per second of it:
more is no transcript any engine here produces, only work for the renderer.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gigaam_api.api.strict_json import loads_strict
from gigaam_api.errors import bad_request
from gigaam_api.formats.render import ResponseFormat
from gigaam_api.transcript import Segment, Transcript, Word, segment_of

# One word or segment per 40-ms frame (GigaAM's step, the finest of the engines) is already absurd.
MAX_ITEMS_PER_SECOND = 25
MAX_SPEAKER_CHARS = 64  # a speaker's name, as the page's user renamed it

_Time = Field(ge=0, allow_inf_nan=False)
M = TypeVar("M", bound=BaseModel)


class StreamedWord(BaseModel):
    word: str
    start: float = _Time
    end: float = _Time


class StreamedSegment(BaseModel):
    """A `transcript.text.segment` event as the page received it (its id is a string there)."""

    model_config = ConfigDict(allow_inf_nan=False)

    id: int = Field(ge=0)
    start: float = _Time
    end: float = _Time
    text: str
    words: list[StreamedWord] = Field(default_factory=list)
    speaker: str | None = Field(default=None, min_length=1, max_length=MAX_SPEAKER_CHARS)

    def segment(self, *, speakers: bool) -> Segment:
        # The stream does not carry token ids or log-probabilities; the rest is derived from the text.
        words = tuple(Word(w.word, w.start, w.end) for w in self.words)
        segment = segment_of(self.id, self.text, start=self.start, end=self.end, words=words)
        return replace(segment, speaker=self.speaker) if speakers else segment


class RenderRequest(BaseModel):
    response_format: ResponseFormat
    duration: float = _Time  # `usage.seconds` of the `transcript.text.done` event
    # Validated one by one (`_segment`): a single pydantic call over 16 MiB of segments holds the GIL,
    # and so the event loop, for most of a second.
    segments: list[Any]
    words: bool = False  # verbose_json's top-level `words` (the `word` timestamp granularity)
    # Diarized: each segment's `speaker` is shown (an undiarized stream's segment events say "A" too).
    speakers: bool = False


@dataclass(frozen=True, slots=True)
class Rendering:
    transcript: Transcript
    response_format: ResponseFormat
    words: bool


def parse_render_request(data: bytes, *, language: str, max_seconds: float) -> Rendering:
    """What to render; a 400 `APIError` if the body is not a transcript the page could have sent."""
    body = _valid(RenderRequest, loads_strict(data), ())
    if body.duration > max_seconds:
        raise bad_request(
            f"duration {body.duration:g} s is longer than any transcript this server makes "
            f"({max_seconds:g} s, MAX_AUDIO_SECONDS).",
            param="duration",
        )
    allowed = int(MAX_ITEMS_PER_SECOND * max(body.duration, 1.0))
    _check_count("segments", len(body.segments), allowed, body.duration)
    segments = [_valid(StreamedSegment, raw, ("segments", i)) for i, raw in enumerate(body.segments)]
    _check_count("words", sum(len(s.words) for s in segments), allowed, body.duration)
    _check_times(segments, max_seconds)
    transcript = Transcript(
        tuple(s.segment(speakers=body.speakers) for s in segments), body.duration, language
    )
    return Rendering(transcript, body.response_format, body.words)


def _valid(model: type[M], value: object, where: tuple[str | int, ...]) -> M:
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = ".".join(str(p) for p in (*where, *first["loc"])) or None
        raise bad_request(f"Invalid render request: {first['msg']}.", param=param) from None


def _check_times(segments: list[StreamedSegment], max_seconds: float) -> None:
    for i, segment in enumerate(segments):
        times = [(f"segments.{i}.{edge}", getattr(segment, edge)) for edge in ("start", "end")]
        for j, word in enumerate(segment.words):
            times += [(f"segments.{i}.words.{j}.{edge}", getattr(word, edge)) for edge in ("start", "end")]
        for param, seconds in times:
            if seconds > max_seconds:
                raise bad_request(
                    f"{seconds:g} s is later than any transcript this server makes "
                    f"({max_seconds:g} s, MAX_AUDIO_SECONDS).",
                    param=param,
                )


def _check_count(name: str, count: int, allowed: int, duration: float) -> None:
    if count > allowed:
        raise bad_request(
            f"{count} {name} for {duration:g} s of audio: at most {MAX_ITEMS_PER_SECOND} per second "
            "are accepted.",
            param=name,
        )
