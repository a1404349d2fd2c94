"""POST /web/render: the page's downloads, rendered from the segments it streamed.

The page already holds every segment (with word times) from its `stream=true` request, so a download
costs no second transcription: the segments come back here and go through `formats.render`, the code
path of `response_format`, which is what makes a downloaded SRT/VTT/TXT/JSON equal the API's.
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import Response

from gigaam_api.api.state import app_state
from gigaam_api.formats.languages import language_name
from gigaam_api.formats.render import ResponseFormat, render
from gigaam_api.transcript import Segment, Transcript, Word, compression_ratio

router = APIRouter()


class StreamedWord(BaseModel):
    word: str
    start: float
    end: float


class StreamedSegment(BaseModel):
    """A `transcript.text.segment` event as the page received it (its id is a string there)."""

    id: int = Field(ge=0)
    start: float = Field(ge=0)
    end: float = Field(ge=0)
    text: str
    words: list[StreamedWord] = Field(default_factory=list)

    def segment(self) -> Segment:
        # The stream does not carry token ids or log-probabilities; the rest is derived from the text.
        return Segment(
            id=self.id,
            start=self.start,
            end=self.end,
            text=self.text,
            compression_ratio=compression_ratio(self.text),
            no_speech_prob=0.0 if self.text else 1.0,
            words=tuple(Word(w.word, w.start, w.end) for w in self.words),
        )


class RenderRequest(BaseModel):
    response_format: ResponseFormat
    duration: float = Field(ge=0)  # `usage.seconds` of the `transcript.text.done` event
    segments: list[StreamedSegment]
    words: bool = False  # verbose_json's top-level `words` (the `word` timestamp granularity)


@router.post("/web/render", include_in_schema=False)
async def render_download(body: RenderRequest, request: Request) -> Response:
    transcriber = app_state(request).ready_transcriber()
    # GigaAM transcribes one language; a multilingual engine would have to report it in the stream.
    language = language_name(min(transcriber.capabilities.languages, default=None))
    transcript = Transcript(tuple(s.segment() for s in body.segments), body.duration, language)
    rendered = render(transcript, body.response_format, words=body.words)
    return Response(rendered.content, media_type=rendered.media_type)
