"""A job as clients see it (GET /v1/jobs/{id}, the list, webhooks). Pure."""

from __future__ import annotations

from gigaam_api.formats.response_bodies import JSONObject
from gigaam_api.jobs.model import Job, Translation


def job_object(job: Job, now: float) -> JSONObject:
    eta = job.eta_seconds(now)
    hook = job.webhook
    return {
        "id": job.id,
        "object": "transcription.job",
        "status": job.status,
        "created_at": int(job.created_at),
        "started_at": _time(job.started_at),
        "finished_at": _time(job.finished_at),
        "expires_at": _time(job.expires_at),
        "progress": {
            "processed_seconds": round(job.processed_seconds, 3),
            "total_seconds": None if job.duration is None else round(job.duration, 3),
            "eta_seconds": None if eta is None else round(eta, 1),
            "segments": job.segment_count,
        },
        "language": job.language,
        "runs": job.runs,
        "error": None if job.error is None else {"message": job.error.message, "code": job.error.code},
        "webhook": None
        if hook is None
        else {
            "url": hook.url,
            "state": hook.state,
            "attempts": hook.attempts,
            "last_status": hook.last_status,
            "last_error": hook.last_error,
        },
        "translation": _translation(job.translation),
        "result_url": f"/v1/jobs/{job.id}/result",
        "events_url": f"/v1/jobs/{job.id}/events",
    }


def _translation(t: Translation | None) -> JSONObject | None:
    """A `translate` job's translation: its status apart from the job's (`succeeded`: the transcript)."""
    if t is None:
        return None
    return {
        "target_language": t.target,
        "status": t.status,
        "translated_segments": t.translated,
        "finished_at": _time(t.finished_at),
        "error": None if t.error is None else {"message": t.error.message, "code": t.error.code},
    }


def _time(value: float | None) -> int | None:
    return None if value is None else int(value)
