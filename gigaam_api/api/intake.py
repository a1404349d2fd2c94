"""Taking in a transcription request: refusals that need no body, the upload slot, the body, the line.

Order: model loaded → a place left in the line (checked, none taken) → multipart with a sane boundary,
or JSON (Open WebUI's `input_audio` body) → declared length within the limits → one of MAX_UPLOADS
upload slots (at most UPLOADS_PER_CLIENT_SHARE of them per client address) → the body, streamed into
the spool within its time and size limits (a minimum rate that rises as the slots fill). A refusal reads and
drops a small rest of the body so the connection stays usable; otherwise the connection is closed
(`CloseUnreadBodyMiddleware`). Then `take_running_slot` waits in line for one of MAX_RUNNING slots.
"""

from __future__ import annotations

import asyncio
import math

from python_multipart.multipart import parse_options_header
from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect, Request

from gigaam_api.api.admission import (
    ClientUploadsError,
    LineClosedError,
    QueueFullError,
    TooManyUploadsError,
    UploadSlots,
    client_key,
)
from gigaam_api.api.cancel import wait_while_wanted
from gigaam_api.api.json_upload import json_body_bytes, receive_json_upload
from gigaam_api.api.request_body import BodyLimits, BodyReader, declared_length
from gigaam_api.api.shutdown import shutting_down
from gigaam_api.api.state import AppState
from gigaam_api.api.upload import FormLimits, Upload, declared_too_large, multipart_boundary, receive_upload
from gigaam_api.audio.spool import RequestFiles, SpoolFullError
from gigaam_api.config import Settings
from gigaam_api.errors import APIError, busy, disk_full, is_disk_full, spool_full

# After a refusal, at most this much of the body is read and dropped to keep the connection usable;
# past it the response closes the connection instead (a bounded cost per refusal).
DRAIN_MAX_BYTES = 1024 * 1024
PCM_BYTES_PER_SECOND = 32_000  # decoded audio: 16 kHz mono int16


def queue_full() -> APIError:
    return busy(
        "The server is busy: the line of transcriptions waiting to run is full (MAX_WAITING). Retry later.",
        "queue_full",
        retry_after=5,
    )


def too_many_uploads(limit: int) -> APIError:
    message = f"The server is busy: {limit} uploads are already in progress (MAX_UPLOADS). Retry later."
    return busy(message, "too_many_uploads", retry_after=5)


def too_many_client_uploads(limit: int) -> APIError:
    message = (
        f"Too many uploads from your address: {limit} are already in progress (UPLOADS_PER_CLIENT_SHARE "
        "of MAX_UPLOADS). Retry when one has finished."
    )
    return APIError(
        429,
        message,
        type="rate_limit_error",
        code="too_many_uploads_from_client",
        headers={"Retry-After": "5"},
    )


def form_limits(settings: Settings) -> FormLimits:
    return FormLimits(file_bytes=settings.max_upload_bytes, fields_bytes=settings.MAX_FORM_FIELDS_BYTES)


def body_limits(settings: Settings, max_bytes: int | None = None) -> BodyLimits:
    """The time and size limits of a body; `max_bytes` defaults to the largest multipart body."""
    return BodyLimits(
        max_bytes=form_limits(settings).body_bytes if max_bytes is None else max_bytes,
        idle_seconds=settings.UPLOAD_IDLE_TIMEOUT_SECONDS,
        min_bytes_per_second=settings.UPLOAD_MIN_BYTES_PER_SECOND,
        rate_grace_seconds=settings.UPLOAD_RATE_GRACE_SECONDS,
        busy_min_bytes_per_second=settings.UPLOAD_BUSY_MIN_BYTES_PER_SECOND,
    )


def is_json(headers: Headers) -> bool:
    content_type, _ = parse_options_header(headers.get("content-type", ""))
    return content_type == b"application/json"


def spool_reservation(declared: int, settings: Settings, *, decoded: bool) -> int:
    """What a body of `declared` bytes will write to the spool: itself and, when it is decoded here,
    SPOOL_DECODE_RATIO PCM bytes per byte, at most MAX_AUDIO_SECONDS of it. The decoder corrects the
    estimate once it knows the duration, and the rest is given back when it has finished."""
    pcm = min(settings.SPOOL_DECODE_RATIO * declared, settings.MAX_AUDIO_SECONDS * PCM_BYTES_PER_SECOND)
    return declared + (math.ceil(pcm) if decoded else 0)


async def take_upload(
    request: Request, state: AppState, files: RequestFiles, *, decoded: bool = True
) -> Upload:
    """The complete upload, its file in the request's spool; a refusal is raised as an `APIError`.

    A multipart body and a JSON body with base64 `input_audio` give the same `Upload`. No running slot
    is held here: a slow upload only holds one of the MAX_UPLOADS upload slots. A declared body reserves
    its share of SPOOL_MAX_MB before it is read (`spool_reservation`; `decoded`: the request decodes it).
    """
    limits = form_limits(state.settings)
    json_body = is_json(request.headers)
    max_body = json_body_bytes(limits) if json_body else limits.body_bytes
    declared = declared_length(request.headers)
    uploads = state.uploads
    body = BodyReader(
        request.receive, body_limits(state.settings, max_body), declared, load=lambda: uploads.load
    )
    try:
        state.ready_transcriber()
        state.admission.check()  # already full: say so before the client sends the whole file
        boundary = b"" if json_body else multipart_boundary(request.headers)
        if body.declared is not None and body.declared > max_body:
            raise declared_too_large(body.declared, limits)
        with state.uploads.slot(client_key(request.client.host if request.client else None)) as slot:
            body.cut = lambda: slot.cut
            if body.declared is not None:
                files.reserve(spool_reservation(body.declared, state.settings, decoded=decoded))

            def charge(nbytes: int) -> None:
                files.charge(nbytes)
                slot.add(nbytes)

            if json_body:
                return await receive_json_upload(
                    body, files.new(".upload"), limits, charge, new_file=lambda: files.new(".reference")
                )
            return await receive_upload(
                body, boundary, files.new(".upload"), limits, charge, new_file=lambda: files.new(".reference")
            )
    except (
        APIError,
        QueueFullError,
        LineClosedError,
        TooManyUploadsError,
        ClientUploadsError,
        SpoolFullError,
    ) as exc:
        await body.drain(DRAIN_MAX_BYTES)
        raise refusal(exc, state.uploads) from None
    except OSError as exc:
        if not is_disk_full(exc):
            raise
        await body.drain(DRAIN_MAX_BYTES)
        raise disk_full() from None


async def take_running_slot(request: Request, state: AppState, cancelled: asyncio.Event) -> None:
    """Wait in line (FIFO) for one of MAX_RUNNING running slots; the caller must `admission.leave()` after.

    A full line is a 503 `queue_full`, a shutdown a 503 `shutting_down`; a client that disconnects
    (`ClientDisconnect`) or cancels (`RequestCancelledError`) while waiting leaves the line, so its place and
    files are freed at once.
    """
    try:
        if not await wait_while_wanted(request, asyncio.ensure_future(state.admission.enter()), cancelled):
            raise ClientDisconnect
    except (QueueFullError, LineClosedError) as exc:
        raise refusal(exc, state.uploads) from None


def refusal(exc: Exception, uploads: UploadSlots) -> APIError:
    """The error a request refused by admission, its upload slots or the spool gets."""
    if isinstance(exc, QueueFullError):
        return queue_full()
    if isinstance(exc, LineClosedError):
        return shutting_down()
    if isinstance(exc, TooManyUploadsError):
        return too_many_uploads(uploads.limit)
    if isinstance(exc, ClientUploadsError):
        return too_many_client_uploads(uploads.per_client)
    if isinstance(exc, SpoolFullError):
        return spool_full()
    assert isinstance(exc, APIError)
    return exc
