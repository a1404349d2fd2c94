"""A transcription job and its state changes: plain data and pure functions, shared by every store."""

from __future__ import annotations

import dataclasses
import secrets
from dataclasses import dataclass
from typing import Literal

from pydantic import TypeAdapter

from gigaam_api.options.form import parse_transcription_form
from gigaam_api.options.transcription import TranscriptionOptions
from gigaam_api.transcript import Segment

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
JOB_STATUSES: tuple[JobStatus, ...] = ("queued", "running", "succeeded", "failed", "cancelled")
TERMINAL: frozenset[JobStatus] = frozenset({"succeeded", "failed", "cancelled"})
WebhookState = Literal["waiting", "pending", "delivered", "failed"]
TranslationStatus = Literal["pending", "running", "succeeded", "failed"]


@dataclass(frozen=True, slots=True)
class Webhook:
    """The job's callback: `waiting` for the job to end, then `pending` until `delivered` or `failed`."""

    url: str
    state: WebhookState = "waiting"
    attempts: int = 0
    next_attempt_at: float | None = None
    last_status: int | None = None
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class JobError:
    message: str
    code: str | None = None


@dataclass(frozen=True, slots=True)
class Translation:
    """A `translate` job's translation of its transcript (`jobs.translating`): due once the transcript
    has succeeded, then claimed with a lease like a job, so a stopped or killed server's translation
    is taken over and resumes from the texts already stored."""

    target: str  # ISO 639-1
    status: TranslationStatus = "pending"
    translated: int = 0  # segments whose translation is stored
    error: JobError | None = None
    worker: str | None = None  # who runs it (while running)
    due_at: float | None = None  # when a translator should take it: now, or when the runner's lease ends
    finished_at: float | None = None


NOTHING_TO_TRANSLATE = JobError(
    "The transcription did not succeed: there is nothing to translate.", "job_failed"
)


@dataclass(frozen=True, slots=True)
class Expiry:
    """How long results (the whole job) and the uploaded audio are kept once a job has ended."""

    result_seconds: float
    audio_seconds: float


@dataclass(frozen=True, slots=True)
class Job:
    id: str
    owner: str  # a digest of the API key that submitted it ("" without API keys)
    created_at: float  # wall-clock epoch seconds: jobs outlive processes
    audio_bytes: int
    # What the submission asked for, parsed once at submission; None where a store leaves it out (listings).
    options: TranscriptionOptions | None = None
    seq: int = 0  # submission order, set by the store
    status: JobStatus = "queued"
    duration: float | None = None
    processed_seconds: float = 0.0  # where the last stored batch ended
    segment_count: int = 0
    language: str | None = None
    error: JobError | None = None
    started_at: float | None = None
    finished_at: float | None = None
    expires_at: float | None = None
    audio_expires_at: float | None = None
    audio_removed: bool = False
    runs: int = 0  # 1, plus one for every resume after a lost worker
    run_started_at: float | None = None  # this run's start and position: its speed gives the ETA
    run_started_seconds: float = 0.0
    webhook: Webhook | None = None
    translation: Translation | None = None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def webhook_due(self) -> float | None:
        """When the callback should next be tried (None: not now, or never)."""
        hook = self.webhook
        return hook.next_attempt_at if hook is not None and hook.state == "pending" else None

    @property
    def translation_due(self) -> float | None:
        """When the translation should next be taken (None: not now, or never)."""
        t = self.translation
        if t is None or self.status != "succeeded" or t.status not in ("pending", "running"):
            return None
        return t.due_at

    @property
    def sweep_at(self) -> float | None:
        """When the sweeper has something to remove: the audio, or the whole job."""
        times = [t for t in (self.expires_at, None if self.audio_removed else self.audio_expires_at) if t]
        return min(times) if times else None

    def eta_seconds(self, now: float) -> float | None:
        """Remaining audio over this run's speed so far; None until both are known."""
        if self.status != "running" or self.duration is None or self.run_started_at is None:
            return None
        done = self.processed_seconds - self.run_started_seconds
        elapsed = now - self.run_started_at
        if done <= 0 or elapsed <= 0:
            return None
        return max(0.0, self.duration - self.processed_seconds) * elapsed / done


def new_job_id() -> str:
    return f"job_{secrets.token_hex(12)}"


def claimed(job: Job, now: float) -> Job:
    return dataclasses.replace(
        job,
        status="running",
        started_at=job.started_at or now,
        runs=job.runs + 1,
        run_started_at=now,
        run_started_seconds=job.processed_seconds,
    )


def checkpoint(
    job: Job, *, new_segments: int, processed: float, duration: float | None, language: str | None
) -> Job | None:
    """A batch's segments are stored with the position they reach; None if the job is no longer running."""
    if job.status != "running":
        return None
    return dataclasses.replace(
        job,
        segment_count=job.segment_count + new_segments,
        processed_seconds=max(job.processed_seconds, processed),
        duration=duration if duration is not None else job.duration,
        language=language or job.language,
    )


def restarted(job: Job) -> Job | None:
    """A run from zero (a resumed diarized job): what the lost run stored is dropped with it."""
    if job.status != "running":
        return None
    return dataclasses.replace(job, processed_seconds=0.0, segment_count=0, run_started_seconds=0.0)


def ended(
    job: Job, status: JobStatus, now: float, expiry: Expiry, error: JobError | None = None
) -> Job | None:
    """The job's last state change (None if it had already ended); the webhook becomes due, unless a
    translation follows the transcript (then it is due when the translation ends)."""
    if job.terminal:
        return None
    translation = job.translation
    if translation is not None:
        if status == "succeeded":
            translation = dataclasses.replace(translation, due_at=now)
        else:
            translation = dataclasses.replace(
                translation, status="failed", error=NOTHING_TO_TRANSLATE, finished_at=now
            )
    hook = job.webhook
    if hook is not None and not (translation is not None and translation.status == "pending"):
        hook = dataclasses.replace(hook, state="pending", next_attempt_at=now)
    processed = job.duration if status == "succeeded" and job.duration is not None else job.processed_seconds
    return dataclasses.replace(
        job,
        status=status,
        error=error,
        finished_at=now,
        processed_seconds=processed,
        expires_at=now + expiry.result_seconds,
        audio_expires_at=now + expiry.audio_seconds,
        webhook=hook,
        translation=translation,
    )


def requeued(job: Job) -> Job | None:
    """A worker that stops (server shutdown) hands its job back, to be resumed by the next one."""
    return dataclasses.replace(job, status="queued") if job.status == "running" else None


_JOB = TypeAdapter(Job)
_SEGMENT = TypeAdapter(Segment)
_OPTIONS = TypeAdapter(TranscriptionOptions)
_DEFAULTS = TranscriptionOptions()
_FORM = TypeAdapter(tuple[tuple[str, str], ...])
# Records written before options were parsed once hold the raw form, in the record or apart.
_LEGACY_FORM_KEY = b'"fields":'


@dataclass(frozen=True, slots=True)
class _LegacyRecord:
    fields: tuple[tuple[str, str], ...] = ()


_LEGACY_RECORD = TypeAdapter(_LegacyRecord)


def without_options(job: Job) -> Job:
    """The job as stores keep its record: the options (a prompt may be MAX_FORM_FIELDS_BYTES) are kept
    apart, so listings and every state change never read or rewrite them."""
    return dataclasses.replace(job, options=None) if job.options is not None else job


def dump_options(job: Job) -> bytes | None:
    """What a store keeps apart for the job's options; None if nothing (not read, or all defaults:
    read back as none, which means the defaults), as a submission without options stored nothing."""
    if job.options is None or job.options == _DEFAULTS:
        return None
    return _OPTIONS.dump_json(job.options)


def load_options(data: bytes | str) -> TranscriptionOptions:
    """Stored options; a raw form stored by an earlier version is parsed as the submission was."""
    raw = data.encode() if isinstance(data, str) else data
    if raw.lstrip().startswith(b"["):
        return parse_transcription_form(_FORM.validate_json(raw))
    return _OPTIONS.validate_json(raw)


def dump_job(job: Job) -> bytes:
    return _JOB.dump_json(job)


def load_job(data: bytes | str) -> Job:
    job = _JOB.validate_json(data)
    raw = data.encode() if isinstance(data, str) else data
    if _LEGACY_FORM_KEY in raw:  # unescaped, this can only be a key: no string value holds a bare `"`
        fields = _LEGACY_RECORD.validate_json(raw).fields
        return dataclasses.replace(job, options=parse_transcription_form(fields) if fields else None)
    return job


def dump_segment(segment: Segment) -> bytes:
    return _SEGMENT.dump_json(segment)


def load_segment(data: bytes | str) -> Segment:
    return _SEGMENT.validate_json(data)
