"""A job's translation and its state changes (`model.Translation`): pure functions, shared by every store.

Like a job, a translation is claimed with a lease (`due_at` moves to the lease's end) that its runner
keeps renewing; a runner that dies stops renewing, so the translation is due again and whoever claims
it goes on from the texts already stored. Every change after the claim names the runner: one that
lost its claim (a retry replaced the translation, another server took it over) changes nothing.
"""

from __future__ import annotations

import dataclasses

from gigaam_api.jobs.model import Job, JobError, Translation


def requested(job: Job, target: str, now: float) -> Job | None:
    """`POST /v1/jobs/{id}/translation`: the transcript (translated again) into `target`, due now.
    None (unchanged) while a translation into `target` is already under way or the job has no
    transcript. Texts stored for `target` by an earlier translation are kept: only the rest is sent."""
    current = job.translation
    if job.status != "succeeded":
        return None
    if current is not None and current.target == target and current.status in ("pending", "running"):
        return None
    kept = current.translated if current is not None and current.target == target else 0
    return dataclasses.replace(job, translation=Translation(target, translated=kept, due_at=now))


def claimed(job: Job, worker: str, now: float, lease_seconds: float) -> Job | None:
    """The due translation is `worker`'s until its lease ends; None if it is not due (any more)."""
    due = job.translation_due
    if due is None or due > now or job.translation is None:
        return None
    translation = dataclasses.replace(
        job.translation, status="running", worker=worker, due_at=now + lease_seconds, error=None
    )
    return dataclasses.replace(job, translation=translation)


def renewed(
    job: Job, worker: str, target: str, now: float, lease_seconds: float, *, translated: int | None = None
) -> Job | None:
    """`worker` still runs the translation into `target`: its lease is extended (and, after a stored
    batch, the count of translated segments moves on); None if it is no longer `worker`'s."""
    t = _held(job, worker, target)
    if t is None:
        return None
    count = t.translated if translated is None else translated
    return dataclasses.replace(
        job, translation=dataclasses.replace(t, due_at=now + lease_seconds, translated=count)
    )


def finished(
    job: Job,
    worker: str,
    target: str,
    now: float,
    error: JobError | None = None,
    *,
    translated: int | None = None,
) -> Job | None:
    """`worker`'s translation ended (failed if `error`; `translated` segments stored, if given); a
    webhook waiting for it becomes due."""
    t = _held(job, worker, target)
    if t is None:
        return None
    translation = dataclasses.replace(
        t,
        status="failed" if error else "succeeded",
        error=error,
        worker=None,
        due_at=None,
        finished_at=now,
        translated=t.translated if translated is None else translated,
    )
    hook = job.webhook
    if hook is not None and hook.state == "waiting":
        hook = dataclasses.replace(hook, state="pending", next_attempt_at=now)
    return dataclasses.replace(job, translation=translation, webhook=hook)


def handed_back(job: Job, worker: str, target: str, now: float) -> Job | None:
    """A server that stops hands its translation back, due at once for the next one."""
    t = _held(job, worker, target)
    if t is None:
        return None
    return dataclasses.replace(
        job, translation=dataclasses.replace(t, status="pending", worker=None, due_at=now)
    )


def _held(job: Job, worker: str, target: str) -> Translation | None:
    t = job.translation
    if t is None or t.status != "running" or t.worker != worker or t.target != target:
        return None
    return t
