"""POST /v1/audio/transcriptions: upload slot → upload → options → line → running slot → run → body or SSE.

With `translate` (and always on POST /v1/audio/translations, `api/translations.py`), the segments'
texts are translated between the run and the body or SSE (`api/translated.py`).

DELETE /v1/audio/transcriptions/{request_id} cancels one in progress (`api/cancel.py`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, ExitStack

from fastapi import APIRouter
from starlette.background import BackgroundTask
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse

from gigaam_api.api.cancel import CLIENT_CLOSED, RequestCancelledError, request_owner, wait_while_wanted
from gigaam_api.api.cancel import not_found as request_not_found
from gigaam_api.api.event_stream import event_stream, run_items
from gigaam_api.api.intake import take_running_slot, take_upload
from gigaam_api.api.request_schema import TRANSCRIPTION_SCHEMA
from gigaam_api.api.shutdown import shutting_down
from gigaam_api.api.state import AppState, app_state
from gigaam_api.api.translated import (
    read_ahead,
    target_separator,
    translated_items,
    translated_transcript,
    translator_of,
)
from gigaam_api.api.upload import file_sha256
from gigaam_api.config import Settings
from gigaam_api.dedup.key import request_key
from gigaam_api.engines.base import Capabilities
from gigaam_api.errors import bad_request
from gigaam_api.formats import render as formats
from gigaam_api.formats.languages import language_name
from gigaam_api.logs import request_id
from gigaam_api.options.diarization import diarization_options
from gigaam_api.options.form import parse_transcription_form, translated_to
from gigaam_api.options.transcription import TranscriptionOptions
from gigaam_api.pipeline.protocol import Run, SpeakerTurns
from gigaam_api.speakers.turns import attribute
from gigaam_api.transcript import Segment, Transcript
from gigaam_api.translation.translator import Translator

log = logging.getLogger(__name__)
router = APIRouter()


@router.post("/v1/audio/transcriptions", openapi_extra=TRANSCRIPTION_SCHEMA)
async def create_transcription(request: Request) -> Response:
    return await transcribe(request)


async def transcribe(request: Request, *, default_target: str | None = None) -> Response:
    """The transcription; translated when the request asks (`translate`), else into `default_target`
    if given (the translations route's language)."""
    state = app_state(request)
    stack = AsyncExitStack()  # what a run this request starts takes over (its spool files)
    own = ExitStack()  # what stays with the request until its response ends
    try:
        files = stack.enter_context(state.spool.files())
        upload = await take_upload(request, state, files)
        owner = request_owner(request, state.settings.API_KEY)
        cancelled = own.enter_context(state.cancellations.register(request_id.get(), owner))
        state.ready_transcriber()
        options, translator = _options(state, upload.fields, default_target)
        transcriber, requested = state.plan(options)
        caps = transcriber.capabilities
        diarization = diarization_options(options, upload.references)
        if upload.file_size is None:
            raise bad_request("No audio: send the recording as the multipart `file` part.", param="file")

        started = False

        async def start(owned: AsyncExitStack) -> Run:
            nonlocal started
            started = True
            await take_running_slot(request, state, cancelled)
            owned.callback(state.admission.leave)
            run = await transcriber.start(upload.path, files, requested, diarization=diarization)
            owned.push_async_callback(run.aclose)
            return run

        key = (
            request_key(
                await upload.digest(),
                requested,
                caps,
                state.settings,
                diarization=diarization,
                reference_sha256=tuple(
                    [await asyncio.to_thread(file_sha256, path) for path in upload.references]
                ),
            )
            if state.runs.enabled
            else None
        )
        try:
            run = await state.runs.open(key, start, stack, cancelled)  # in flight, cached, or started here
        except (ClientDisconnect, RequestCancelledError):
            if cancelled.is_set() or await request.is_disconnected():
                raise
            # The identical request this one attached to left while waiting in line: start it here.
            run = await state.runs.open(key, start, stack, cancelled)
        if not started:  # attached to an identical run, or answered from the cache: nothing to decode here
            files.reserve(0)
        if options.stream:
            run_cleanup = stack.pop_all()
            cleanup = AsyncExitStack()
            cleanup.push_async_callback(run_cleanup.aclose)
            cleanup.callback(own.pop_all().close)
            return StreamingResponse(
                _sse(
                    run,
                    caps,
                    options,
                    state.settings,
                    cleanup,
                    run_cleanup=run_cleanup,
                    translator=translator,
                    stop=state.shutdown.expired,
                    cancelled=cancelled,
                ),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
                background=BackgroundTask(cleanup.aclose),
            )
        segments = await _collect_until_disconnect(request, run, cancelled)
        if segments is None:
            log.info("client disconnected before the result")
            return Response(status_code=CLIENT_CLOSED)
        language = run.language
        transcript = Transcript(
            tuple(segments), run.duration or 0.0, language_name(language), caps.separator(language)
        )
        return await _respond(
            request, options, transcript, translator=translator, run_stack=stack, cancelled=cancelled
        )
    except ClientDisconnect:
        log.info("client disconnected during upload")
        return Response(status_code=CLIENT_CLOSED)
    finally:
        await stack.aclose()
        own.close()


async def _respond(
    request: Request,
    options: TranscriptionOptions,
    transcript: Transcript,
    *,
    translator: Translator | None,
    run_stack: AsyncExitStack,
    cancelled: asyncio.Event,
) -> Response:
    """The body; with a `translator`, of the transcript translated, while the client still wants it."""
    if translator is not None:
        await run_stack.aclose()  # the run is over: its running slot and files are free while the LLM works
        work = asyncio.ensure_future(translated_transcript(transcript, translator, options))
        if not await wait_while_wanted(request, work, cancelled):
            log.info("client disconnected during the translation")
            return Response(status_code=CLIENT_CLOSED)
        transcript = work.result()
    return transcript_response(options, transcript)


def _options(
    state: AppState, fields: Sequence[tuple[str, str]], default_target: str | None
) -> tuple[TranscriptionOptions, Translator | None]:
    """The request's options and, if they translate, the translator (501 while translation is off)."""
    options = parse_transcription_form(fields)
    if default_target is not None and options.translate is None:
        options = translated_to(options, default_target)
    return options, None if options.translate is None else translator_of(state)


@router.delete("/v1/audio/transcriptions/{request_id}", status_code=204)
async def cancel_transcription(request: Request, request_id: str) -> Response:
    """Cancel a transcription in progress by its `x-request-id`: it leaves the line, or detaches from its
    run, which stops within a batch unless another request is attached to it. Only its own key may."""
    state = app_state(request)
    if not state.cancellations.cancel(request_id, request_owner(request, state.settings.API_KEY)):
        raise request_not_found(request_id)
    log.info("cancelling %s", request_id)
    return Response(status_code=204)


async def _collect_until_disconnect(
    request: Request, run: Run, cancelled: asyncio.Event
) -> list[Segment] | None:
    """All segments of the run (a diarized run's with their final speakers); None if the client went away
    first; `RequestCancelledError` if cancelled."""
    segments: list[Segment] = []

    async def consume() -> None:
        async for event in run.events():
            if isinstance(event, Segment):
                segments.append(event)
            elif isinstance(event, SpeakerTurns):
                segments[:] = attribute(segments, event.turns, first_id=0)

    return segments if await wait_while_wanted(request, asyncio.ensure_future(consume()), cancelled) else None


def transcript_response(options: TranscriptionOptions, transcript: Transcript) -> Response:
    """The body `options` ask for (format, granularities, logprobs); the jobs route renders with it too."""
    granularities = options.timestamp_granularities
    body = formats.render(
        transcript,
        options.response_format,
        words="word" in granularities,
        segments="segment" in granularities,
        logprobs=options.include_logprobs,
    )
    return Response(body.content, media_type=body.media_type)


async def _sse(
    run: Run,
    caps: Capabilities,
    options: TranscriptionOptions,
    settings: Settings,
    cleanup: AsyncExitStack,
    *,
    run_cleanup: AsyncExitStack,
    translator: Translator | None = None,
    stop: asyncio.Event,
    cancelled: asyncio.Event,
) -> AsyncIterator[bytes]:
    """The run's event stream (its segments translated as they come with a `translator`); it ends
    with `shutting_down` once `stop` is set (the shutdown grace is over) and with `request_cancelled`
    once `cancelled` is (a DELETE). Then the run's files go (`run_cleanup`: with a `translator`, as
    soon as the run ends, so the LLM works without the run's running slot)."""
    items = run_items(run)
    ahead = None
    if translator is not None:
        ahead = read_ahead(items, run_cleanup.aclose)
        items = translated_items(ahead, translator, options)
    try:
        async for chunk in event_stream(
            items,
            options,
            keepalive=settings.KEEPALIVE_SECONDS,
            progress_seconds=settings.PROGRESS_SECONDS,
            stops=((stop, shutting_down), (cancelled, RequestCancelledError)),
            separator=(
                (lambda: target_separator(options))
                if translator is not None
                else (lambda: caps.separator(run.language))
            ),
        ):
            yield chunk
    finally:
        if ahead is not None:  # its reader stops before the run is closed under it
            await ahead.aclose()
        await cleanup.aclose()
