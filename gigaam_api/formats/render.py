"""A finished transcript as the body of a non-streaming response, in the requested format. Pure."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal, get_args

from gigaam_api.formats.response_bodies import diarized_json_body, json_body, text_body, verbose_json_body
from gigaam_api.formats.subtitles import cut_cues, srt, vtt
from gigaam_api.transcript import Transcript

ResponseFormat = Literal["json", "text", "srt", "verbose_json", "vtt", "diarized_json"]
# The one list of formats: the form, the jobs API's schema and the CLI's --format all read it.
RESPONSE_FORMATS: tuple[ResponseFormat, ...] = get_args(ResponseFormat)


@dataclass(frozen=True, slots=True)
class Body:
    content: bytes
    media_type: str


def render(
    transcript: Transcript,
    fmt: ResponseFormat,
    *,
    words: bool = False,
    segments: bool = True,
    logprobs: bool = False,
) -> Body:
    """`words`/`segments` apply to verbose_json (its timestamp granularities); `logprobs` to json."""
    if fmt == "json":
        return _json(json_body(transcript, include_logprobs=logprobs))
    if fmt == "verbose_json":
        return _json(verbose_json_body(transcript, words=words, segments=segments))
    if fmt == "diarized_json":
        return _json(diarized_json_body(transcript))
    if fmt == "text":
        return _text(text_body(transcript), "text/plain")
    cues = cut_cues(transcript.segments)
    if fmt == "srt":
        return _text(srt(cues), "text/plain")
    return _text(vtt(cues), "text/vtt")


def _json(payload: object) -> Body:
    # The same bytes Starlette's JSONResponse writes.
    text = json.dumps(payload, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":"))
    return Body(text.encode("utf-8"), "application/json")


def _text(text: str, media_type: str) -> Body:
    return Body(text.encode("utf-8"), f"{media_type}; charset=utf-8")
