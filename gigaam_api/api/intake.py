"""Taking in a transcription request: refusals that need no body, the upload slot, the body itself.

Order: model loaded → queue not full (checked, no slot taken) → multipart with a sane boundary →
declared length within the limits → one of MAX_UPLOADS upload slots → the body, streamed into the
spool within its time and size limits. A refusal reads and drops a small rest of the body so the
connection stays usable; otherwise the connection is closed (`CloseUnreadBodyMiddleware`).
"""

from __future__ import annotations

from starlette.requests import Request

from gigaam_api.api.admission import QueueFullError, TooManyUploadsError
from gigaam_api.api.body import BodyLimits, BodyReader, declared_length
from gigaam_api.api.state import AppState
from gigaam_api.api.upload import FormLimits, Upload, declared_too_large, multipart_boundary, receive_upload
from gigaam_api.audio.spool import RequestFiles, SpoolFullError
from gigaam_api.config import Settings
from gigaam_api.errors import APIError, busy

# After a refusal, at most this much of the body is read and dropped to keep the connection usable;
# past it the response closes the connection instead (a bounded cost per refusal).
DRAIN_MAX_BYTES = 1024 * 1024


def queue_full() -> APIError:
    return busy(
        "The server is busy: too many transcriptions are queued. Retry later.", "queue_full", retry_after=5
    )


def too_many_uploads(limit: int) -> APIError:
    message = f"The server is busy: {limit} uploads are already in progress (MAX_UPLOADS). Retry later."
    return busy(message, "too_many_uploads", retry_after=5)


def spool_full() -> APIError:
    message = (
        "The server's temporary storage for uploads and decoded audio is full (SPOOL_MAX_MB). Retry later."
    )
    return busy(message, "spool_full", retry_after=30)  # space frees only as running jobs end


def form_limits(settings: Settings) -> FormLimits:
    return FormLimits(file_bytes=settings.max_upload_bytes, fields_bytes=settings.MAX_FORM_FIELDS_BYTES)


def body_limits(settings: Settings) -> BodyLimits:
    return BodyLimits(
        max_bytes=form_limits(settings).body_bytes,
        idle_seconds=settings.UPLOAD_IDLE_TIMEOUT_SECONDS,
        min_bytes_per_second=settings.UPLOAD_MIN_BYTES_PER_SECOND,
        rate_grace_seconds=settings.UPLOAD_RATE_GRACE_SECONDS,
    )


async def take_upload(request: Request, state: AppState, files: RequestFiles) -> Upload:
    """The complete upload, its file in the request's spool; a refusal is raised as an `APIError`.

    No running slot is held here: a slow upload only holds one of the MAX_UPLOADS upload slots.
    """
    body = BodyReader(request.receive, body_limits(state.settings), declared_length(request.headers))
    try:
        state.ready_transcriber()
        state.admission.check()  # already full: say so before the client sends the whole file
        boundary = multipart_boundary(request.headers)
        limits = form_limits(state.settings)
        if body.declared is not None and body.declared > limits.body_bytes:
            raise declared_too_large(body.declared, limits)
        with state.uploads.slot() as slot:

            def charge(nbytes: int) -> None:
                files.charge(nbytes)
                slot.add(nbytes)

            return await receive_upload(body, boundary, files.new(".upload"), limits, charge)
    except (APIError, QueueFullError, TooManyUploadsError, SpoolFullError) as exc:
        await body.drain(DRAIN_MAX_BYTES)
        raise _refusal(exc, state) from None


def _refusal(exc: Exception, state: AppState) -> APIError:
    if isinstance(exc, QueueFullError):
        return queue_full()
    if isinstance(exc, TooManyUploadsError):
        return too_many_uploads(state.uploads.limit)
    if isinstance(exc, SpoolFullError):
        return spool_full()
    assert isinstance(exc, APIError)
    return exc
