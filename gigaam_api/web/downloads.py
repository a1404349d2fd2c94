"""POST /web/render: the page's downloads, rendered from the segments it streamed.

The page already holds every segment (with word times) from its `stream=true` request, so a download
costs no second transcription: the segments come back here and go through `formats.render`, the code
path of `response_format`, which is what makes a downloaded SRT/VTT/TXT/JSON equal the API's.

The body is an upload like any other: it holds one of MAX_UPLOADS upload slots, is read within
WEB_RENDER_MAX_MB (a larger `Content-Length` is refused before reading) and the upload time limits,
and is validated (`render_request`). Parsing and rendering run in their own few threads, so a big
transcript neither blocks the event loop nor takes the threads the API's other blocking calls use.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from functools import partial
from typing import Protocol

from fastapi import APIRouter
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from gigaam_api.api.admission import ClientUploadsError, TooManyUploadsError, UploadSlots, client_key
from gigaam_api.api.cancel import CLIENT_CLOSED
from gigaam_api.api.intake import DRAIN_MAX_BYTES, body_limits, refusal
from gigaam_api.api.request_body import BodyLimits, BodyReader, body_too_large, declared_length
from gigaam_api.config import Settings
from gigaam_api.errors import APIError
from gigaam_api.formats.languages import language_name
from gigaam_api.formats.render import Body, render
from gigaam_api.pipeline.protocol import Transcriber
from gigaam_api.pipeline.served import served_by_model
from gigaam_api.web.render_request import parse_render_request

log = logging.getLogger(__name__)
router = APIRouter()

RENDER_THREADS = 2  # renders at once, per process; more wait for a thread (holding their upload slot)
_RENDERS = ThreadPoolExecutor(max_workers=RENDER_THREADS, thread_name_prefix="web-render")


class RenderServer(Protocol):
    """What a render needs of the app (`api.state.AppState` has it): settings, upload slots, the model."""

    @property
    def settings(self) -> Settings: ...

    @property
    def uploads(self) -> UploadSlots: ...

    def ready_transcriber(self) -> Transcriber: ...


def render_server(request: Request) -> RenderServer:
    server: RenderServer = request.app.state.gigaam
    return server


def render_limits(settings: Settings) -> BodyLimits:
    """The upload time limits, with WEB_RENDER_MAX_MB as the size limit."""
    limits = body_limits(settings, int(settings.WEB_RENDER_MAX_MB * 1024 * 1024))
    return replace(limits, size_setting="WEB_RENDER_MAX_MB")


def _sole_language(transcriber: Transcriber) -> str | None:
    """The language the page's transcript is in, when the served engines leave no doubt: they all
    transcribe the same one. The stream does not name the language, so otherwise it is unknown."""
    languages = {code for t in served_by_model(transcriber).values() for code in t.capabilities.languages}
    return next(iter(languages)) if len(languages) == 1 else None


def render_body(data: bytes, *, language: str, max_seconds: float) -> Body:
    """Parse, validate and render; blocking (CPU-bound), run in a render thread."""
    rendering = parse_render_request(data, language=language, max_seconds=max_seconds)
    return render(rendering.transcript, rendering.response_format, words=rendering.words)


@router.post("/web/render", include_in_schema=False)
async def render_download(request: Request) -> Response:
    state = render_server(request)
    settings = state.settings
    limits = render_limits(settings)
    uploads = state.uploads
    body = BodyReader(request.receive, limits, declared_length(request.headers), load=lambda: uploads.load)
    try:
        transcriber = state.ready_transcriber()
        if body.declared is not None and body.declared > limits.max_bytes:
            raise body_too_large(limits)
        with uploads.slot(client_key(request.client.host if request.client else None)) as slot:
            body.cut = lambda: slot.cut
            chunks = []
            while not body.complete:
                chunks.append(await body.read())
                slot.add(len(chunks[-1]))  # its rate: a render is not the slowest upload for nothing
            language = language_name(_sole_language(transcriber))
            work = partial(
                render_body, b"".join(chunks), language=language, max_seconds=settings.MAX_AUDIO_SECONDS
            )
            rendered = await asyncio.get_running_loop().run_in_executor(_RENDERS, work)
    except ClientDisconnect:
        log.info("client disconnected during a render upload")
        return Response(status_code=CLIENT_CLOSED)
    except (TooManyUploadsError, ClientUploadsError) as exc:
        await body.drain(DRAIN_MAX_BYTES)
        raise refusal(exc, uploads) from None
    except APIError:
        await body.drain(DRAIN_MAX_BYTES)
        raise
    return Response(rendered.content, media_type=rendered.media_type)
