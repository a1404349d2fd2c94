"""/v1/jobs: submit a transcription that outlives the connection, follow it, fetch its result.

Submission takes the same body as POST /v1/audio/transcriptions (`take_upload`, the same form fields),
plus `callback_url` (a webhook) and, instead of a file, `url` (audio the server fetches). With API
keys, a job belongs to the key that submitted it: other keys get 404 for it.

A job with `translate` stores its transcript as transcribed, then the server translates it once, in
the background (`jobs.translating`), and stores the translated texts: the result is rebuilt from them
without the LLM. `POST /v1/jobs/{id}/translation` translates it again (another language, or after a
failure); the transcript is never computed again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time
from collections.abc import AsyncIterator

from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from gigaam_api.api.admission import ClientUploadsError, TooManyUploadsError, client_key
from gigaam_api.api.event_stream import Finished, StreamItem, event_stream
from gigaam_api.api.intake import refusal, take_upload
from gigaam_api.api.request_schema import TRANSCRIPTION_FIELDS, form_schema
from gigaam_api.api.shutdown import shutting_down
from gigaam_api.api.state import AppState, app_state
from gigaam_api.api.transcriptions import transcript_response
from gigaam_api.api.translated import stored_translation, translator_of
from gigaam_api.errors import APIError, bad_request, disk_full, is_disk_full
from gigaam_api.formats.languages import language_name
from gigaam_api.jobs.fetch import download
from gigaam_api.jobs.guarded_store import JobStoreDownError, store_unavailable
from gigaam_api.jobs.model import TERMINAL, Job, JobError, JobStatus, Translation, Webhook, ended, new_job_id
from gigaam_api.jobs.service import JobService, owner_of
from gigaam_api.jobs.store import Change
from gigaam_api.jobs.translation_state import requested
from gigaam_api.jobs.urls import allowed_url
from gigaam_api.jobs.view import job_object
from gigaam_api.jobs.webhooks import resent
from gigaam_api.options.diarization import diarization_options
from gigaam_api.options.form import parse_transcription_form, translated_to
from gigaam_api.options.transcription import TranscriptionOptions
from gigaam_api.pipeline.protocol import Progress
from gigaam_api.transcript import Transcript

router = APIRouter()

JOB_FIELDS = ("callback_url", "url")  # the job's own fields; the rest are the transcription's
RESULT_OVERRIDES = ("response_format", "timestamp_granularities", "include")
STREAM_POLL_SECONDS = 0.25
MAX_PAGE = 100
_EVENT_ID = re.compile(r"0|[1-9][0-9]{0,18}")  # a plain decimal; no sign, no leading zeros


def job_service(request: Request) -> JobService:
    jobs: JobService = request.app.state.jobs
    return jobs


def _owner(request: Request, state: AppState) -> str:
    if not state.settings.API_KEY:
        return ""
    _, _, token = request.headers.get("authorization", "").partition(" ")
    return owner_of(token.strip())  # the middleware has checked it is one of API_KEY


def not_found(job_id: str) -> APIError:
    return APIError(404, f"No job with id {job_id!r}.", param="job_id", code="job_not_found")


async def _owned(request: Request, job_id: str) -> Job:
    job = await job_service(request).store.get(job_id)
    if job is None or job.owner != _owner(request, app_state(request)):
        raise not_found(job_id)
    return job


# The route reads the raw form (the intake's limits), so its fields are declared here for /docs.
_SUBMISSION_SCHEMA = form_schema(
    {
        "file": {"type": "string", "format": "binary", "description": "the recording"},
        "url": {"type": "string", "description": "instead of file: audio on a JOBS_URL_HOSTS host"},
        "callback_url": {"type": "string", "description": "webhook on a JOBS_WEBHOOK_HOSTS host"},
        **TRANSCRIPTION_FIELDS,
    }
)


@router.post("/v1/jobs", status_code=202, openapi_extra=_SUBMISSION_SCHEMA)
async def create_job(request: Request) -> Response:
    """Submit a transcription job: the form of POST /v1/audio/transcriptions, plus `url`/`callback_url`."""
    state, jobs = app_state(request), job_service(request)
    settings = state.settings
    with state.spool.files() as files:
        upload = await take_upload(request, state, files, decoded=False)  # the worker decodes it
        state.ready_transcriber()
        options = parse_transcription_form(upload.fields)
        # Refused now rather than when the job runs: a model or language no served model takes, options
        # the routed model cannot honour.
        state.plan(options)
        if options.translate is not None:
            translator_of(state)  # translation is off: 501 now, not when the transcript is done
        diarization_options(options, upload.references)  # the names and clips agree (their length: when run)
        extra = {name: value for name, value in upload.fields if name in JOB_FIELDS}
        callback = extra.get("callback_url")
        webhook = None
        if callback:
            hook_url = allowed_url(
                callback,
                settings.JOBS_WEBHOOK_HOSTS,
                settings.JOBS_URL_PORTS,
                param="callback_url",
                setting="JOBS_WEBHOOK_HOSTS",
            )
            webhook = Webhook(str(hook_url))
        job_id = new_job_id()
        try:
            if upload.file_size is not None:
                size = await asyncio.to_thread(jobs.audio.adopt, job_id, upload.path, upload.references)
            elif extra.get("url"):
                size = await asyncio.to_thread(jobs.audio.adopt, job_id, None, upload.references)
                size += await _fetch(request, state, jobs, job_id, extra["url"])
            else:
                message = "No audio: send the recording as the `file` part, or its `url`."
                raise bad_request(message, param="file")
        except BaseException as exc:
            jobs.audio.remove(job_id)  # reference clips adopted before a download that failed
            if isinstance(exc, OSError) and is_disk_full(exc):
                raise disk_full() from None
            raise
    # The parsed options are stored (fields the form does not read are dropped, as the synchronous route
    # ignores them): the worker, the result and the events read them back without parsing again.
    translation = None if options.translate is None else Translation(options.translate)
    job = Job(
        job_id,
        _owner(request, state),
        time.time(),
        size,
        options=options,
        webhook=webhook,
        translation=translation,
    )
    try:
        job = await jobs.store.add(job)
    except JobStoreDownError:
        # The store may still commit the job after the timeout: its audio stays. If the job never
        # appears, the leftover sweep removes the audio once it has been idle long enough.
        raise
    except BaseException as exc:
        jobs.audio.remove(job_id)
        if isinstance(exc, OSError) and is_disk_full(exc):  # the SQLite store's disk
            raise disk_full() from None
        raise
    jobs.wake.set()
    return JSONResponse(
        job_object(job, time.time()), status_code=202, headers={"Location": f"/v1/jobs/{job.id}"}
    )


async def _fetch(request: Request, state: AppState, jobs: JobService, job_id: str, url: str) -> int:
    """The download holds one of the requester's upload slots (MAX_UPLOADS, UPLOADS_PER_CLIENT_SHARE),
    which a newcomer may not take (its stored bytes are not counted; JOBS_URL_TIMEOUT_SECONDS bounds it),
    and, from its first byte, a share of JOBS_MAX_MB."""
    settings = jobs.settings
    client = client_key(request.client.host if request.client else None)
    try:
        with state.uploads.slot(client, cuttable=False), jobs.audio.download(job_id) as (partial, reserve):
            return await download(
                url,
                partial,
                hosts=settings.JOBS_URL_HOSTS,
                ports=settings.JOBS_URL_PORTS,
                max_bytes=settings.max_upload_bytes,
                timeout=settings.JOBS_URL_TIMEOUT_SECONDS,
                reserve=reserve,
            )
    except (TooManyUploadsError, ClientUploadsError) as exc:
        raise refusal(exc, state.uploads) from None


@router.get("/v1/jobs")
async def list_jobs(
    request: Request,
    status: JobStatus | None = None,
    limit: int = Query(default=20, ge=1, le=MAX_PAGE),
    after: str | None = None,
) -> JSONResponse:
    """Newest first; `after` (a job id from the previous page's `last_id`) continues the list."""
    store = job_service(request).store
    before = None if after is None else (await _owned(request, after)).seq
    owner = _owner(request, app_state(request))
    page = await store.page(owner, status=status, before_seq=before, limit=limit + 1)
    now = time.time()
    data = [job_object(j, now) for j in page[:limit]]
    return JSONResponse(
        {
            "object": "list",
            "data": data,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
            "has_more": len(page) > limit,
        }
    )


@router.get("/v1/jobs/{job_id}")
async def get_job(request: Request, job_id: str) -> JSONResponse:
    return JSONResponse(job_object(await _owned(request, job_id), time.time()))


@router.get("/v1/jobs/{job_id}/result")
async def get_result(request: Request, job_id: str) -> Response:
    """The transcript as the job asked for it (translated, for a `translate` job, once its translation
    has succeeded); or, when the query names any of `response_format`, `timestamp_granularities[]` or
    `include[]`, as those (and only those) query fields say. `translate=none` in the query: the
    transcript as transcribed; `translate=<language>`: the job's translation, if into that language."""
    job = await _owned(request, job_id)
    if job.status != "succeeded":
        raise _not_finished(job)
    given = [(n, v) for n, v in request.query_params.multi_items() if _base(n) in RESULT_OVERRIDES]
    options = _options(job)
    if given:
        options = options.rendered_as(parse_transcription_form(given))
    target = _result_target(job, request.query_params.get("translate"))
    store = job_service(request).store
    segments = await store.segments(job.id)
    transcript = Transcript(tuple(segments), job.duration or 0.0, language_name(job.language))
    if target is None:
        return transcript_response(dataclasses.replace(options, translate=None), transcript)
    options = translated_to(options, target)
    texts = await store.translations(job.id, target)  # the LLM is not asked: the texts are stored
    return transcript_response(options, stored_translation(transcript, target, texts))


def _result_target(job: Job, asked: str | None) -> str | None:
    """The language the result is read in (None: as transcribed); a 409 while it is not translated."""
    translation = job.translation
    if asked is not None:
        code = parse_transcription_form([("translate", asked)]).translate
        if code is None:
            return None
        if translation is None or translation.target != code:
            message = (
                f"The job has no translation into {code!r}: POST /v1/jobs/{job.id}/translation with "
                f"target_language={code} translates its transcript."
            )
            raise APIError(409, message, param="translate", code="translation_not_requested")
    if translation is None:
        return None
    if translation.status == "failed":
        reason = translation.error.message if translation.error else "unknown"
        message = (
            f"The translation into {translation.target!r} failed: {reason} "
            f"POST /v1/jobs/{job.id}/translation retries it; ?translate=none gives the transcript."
        )
        raise APIError(409, message, code="translation_failed")
    if translation.status != "succeeded":
        message = (
            f"The translation into {translation.target!r} is {translation.status} "
            f"({translation.translated} of {job.segment_count} segments): read the result again later, "
            "or ?translate=none for the transcript."
        )
        raise APIError(409, message, code="translation_pending")
    return translation.target


def _options(job: Job) -> TranscriptionOptions:
    return job.options or TranscriptionOptions()  # none stored: submitted with no options at all


def _base(name: str) -> str:
    return name.split("[", 1)[0]


def _not_finished(job: Job) -> APIError:
    if job.status == "failed" and job.error is not None:
        return APIError(409, f"The job failed: {job.error.message}", code="job_failed")
    return APIError(409, f"The job has no result: it is {job.status}.", code=f"job_{job.status}")


@router.post("/v1/jobs/{job_id}/cancel")
async def cancel_job(request: Request, job_id: str) -> JSONResponse:
    """Stops a queued or running job (a running one within a heartbeat); an ended job is unchanged."""
    job = await _owned(request, job_id)
    jobs = job_service(request)
    stopped = await jobs.store.update(job.id, _cancel(jobs))
    return JSONResponse(job_object(stopped or job, time.time()))


def _cancel(jobs: JobService) -> Change:
    expiry = jobs.expiry
    return lambda job: ended(
        job, "cancelled", time.time(), expiry, JobError("Cancelled by the client.", "cancelled")
    )


@router.post("/v1/jobs/{job_id}/webhook", status_code=202)
async def resend_webhook(request: Request, job_id: str) -> JSONResponse:
    """Send an ended job's webhook again, with a fresh set of attempts (same delivery id)."""
    job = await _owned(request, job_id)
    if job.webhook is None:
        raise APIError(409, "The job has no callback_url.", code="no_webhook")
    if not job.terminal:
        raise APIError(
            409, f"The job is {job.status}: its webhook is sent when it ends.", code="job_not_ended"
        )
    if not app_state(request).settings.JOBS_WEBHOOK_HOSTS:
        raise APIError(409, "Webhooks are off on this server (JOBS_WEBHOOK_HOSTS).", code="webhooks_off")
    now = time.time()
    due = await job_service(request).store.update(job.id, lambda j: resent(j, now))
    return JSONResponse(job_object(due or job, now), status_code=202)


@router.post("/v1/jobs/{job_id}/translation", status_code=202)
async def translate_job(request: Request, job_id: str) -> JSONResponse:
    """Translate a job's transcript (again) in the background: after a failed translation, or into
    another language (`target_language`, a form field or query parameter; default: the job's). The
    transcript is not computed again; texts already stored for that language are not asked again."""
    job = await _owned(request, job_id)
    translator_of(app_state(request))  # 501 while translation is off
    if job.status != "succeeded":
        raise _not_finished(job)
    form = await request.form()
    given = request.query_params.get("target_language") or form.get("target_language")
    if isinstance(given, str) and given.strip():
        target = parse_transcription_form([("target_language", given)]).translate
    else:
        target = job.translation.target if job.translation is not None else None
    if target is None:
        raise bad_request("Name the language to translate into: target_language.", param="target_language")
    jobs = job_service(request)
    now = time.time()
    due = await jobs.store.update(job.id, lambda j: requested(j, target, now))
    jobs.translation_wake.set()
    return JSONResponse(job_object(due or job, now), status_code=202)


@router.delete("/v1/jobs/{job_id}")
async def delete_job(request: Request, job_id: str) -> JSONResponse:
    job = await _owned(request, job_id)
    jobs = job_service(request)
    await jobs.store.update(job.id, _cancel(jobs))  # a running worker stops
    await jobs.store.delete(job.id)
    jobs.audio.remove(job.id)
    return JSONResponse({"id": job.id, "object": "transcription.job.deleted", "deleted": True})


@router.get("/v1/jobs/{job_id}/events")
async def job_events(request: Request, job_id: str) -> StreamingResponse:
    """The job's segments as the `stream=true` events, then `done` (or an error event). A `translate`
    job's events carry its transcript as transcribed: its translation is read from the result.

    Each delta and segment event has an `id:`; a client that reconnects with `Last-Event-ID` gets
    only the events after it, whether the job is still running or long finished.
    """
    job = await _owned(request, job_id)
    after = last_event_id(request.headers.get("last-event-id", ""), job.segment_count)
    state = app_state(request)
    return StreamingResponse(
        event_stream(
            _job_items(job_service(request), job.id, after // 2, relabelled=_options(job).diarize),
            _options(job),
            keepalive=state.settings.KEEPALIVE_SECONDS,
            stops=((state.shutdown.expired, shutting_down),),
            event_ids=True,
            after=after,
        ),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def last_event_id(header: str, segment_count: int) -> int:
    """The events a reconnecting client has seen: 0 (no header) up to the last one stored (2 per segment).

    Anything else (negative, not a plain decimal, beyond the stored events) is no id this stream sent:
    a 400, never a replay from an invented position. Segments are stored with the job's count in one
    atomic write, so every id a stream has sent is within the count read after it.
    """
    text = header.strip()
    last = 2 * segment_count
    if not text:
        return 0
    if not _EVENT_ID.fullmatch(text) or int(text) > last:
        raise bad_request(
            f"Last-Event-ID must be an event id this stream sent: an integer from 0 to {last}.",
            param="Last-Event-ID",
            code="invalid_last_event_id",
        )
    return int(text)


async def _job_items(
    jobs: JobService, job_id: str, index: int, *, relabelled: bool = False
) -> AsyncIterator[StreamItem]:
    """The job's stored segments from `index` as they are stored, its progress as it changes, then the
    whole transcript; an error if the job is deleted, fails or is cancelled, or the store is down (the
    client reconnects with Last-Event-ID).

    A diarized job's segments are `relabelled` at its end (final speakers, some split in two): a client
    that was sent some with their online speakers gets no more, only the whole final transcript."""
    store = jobs.store
    progress: tuple[float, float | None] | None = None
    try:
        while True:
            current = await store.get(job_id)
            if current is None:
                raise APIError(404, "The job was deleted.", code="job_not_found")
            final = relabelled and current.status in TERMINAL
            if not (final and index):
                for seg in await store.segments(job_id, index):
                    yield seg
                    index += 1
            if current.status in TERMINAL and (index >= current.segment_count or final):
                if current.status != "succeeded":
                    raise _not_finished(current)
                yield Finished(current.duration or 0.0, await store.segments(job_id))
                return
            if progress != (current.processed_seconds, current.duration):
                progress = (current.processed_seconds, current.duration)
                yield Progress(*progress)
            await asyncio.sleep(STREAM_POLL_SECONDS)
    except JobStoreDownError:
        raise store_unavailable() from None
