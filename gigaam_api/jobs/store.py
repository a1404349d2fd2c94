"""What the API, the worker and the sweeper need of a job store (`jobs.backend.open_store` picks one).

Two implementations keep the same contract: `SqliteJobStore` (one file under JOBS_DIR, no extra
service) and `RedisJobStore` (several replicas share the queue). Every method is blocking (the server
calls them through `GuardedStore`: threads of their own, a timeout) and every change of a job is one
atomic read-modify-write through `update`, whose `change` is one of the pure functions of `jobs.model`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from gigaam_api.jobs.model import Job, JobStatus
from gigaam_api.transcript import Segment

Change = Callable[[Job], Job | None]


@dataclass(frozen=True, slots=True)
class TranslatedTexts:
    """A batch of a job's segment texts translated into `target`, by segment id."""

    target: str
    texts: Mapping[int, str]


class JobStore(Protocol):
    kind: str  # "sqlite" or "redis", for /health
    # What the backend raises when it cannot be reached or cannot answer (an outage, not a bug).
    outage_errors: tuple[type[Exception], ...]

    def ping(self) -> None:
        """Raise one of `outage_errors` unless the store answers."""
        ...

    def add(self, job: Job) -> Job:
        """Store a new job and queue it; returns it with its submission `seq`."""
        ...

    def get(self, job_id: str) -> Job | None: ...

    def exists(self, job_id: str) -> bool:
        """Whether the store has the job (reads nothing of it: the sweeper asks for every audio file)."""
        ...

    def page(self, owner: str, *, status: JobStatus | None, before_seq: int | None, limit: int) -> list[Job]:
        """`owner`'s jobs, newest first, older than `before_seq` when given; without their `options`
        (a listing never shows them, and a prompt may be up to MAX_FORM_FIELDS_BYTES)."""
        ...

    def claim(self, worker: str, lease_seconds: float, now: float) -> Job | None:
        """The oldest queued job, or one whose worker's lease ran out, now `running` under `worker`."""
        ...

    def renew(self, job_id: str, worker: str, lease_seconds: float, now: float) -> bool:
        """Extend `worker`'s lease; False if it lost it or the job is no longer running (cancelled)."""
        ...

    def update(
        self,
        job_id: str,
        change: Change,
        *,
        worker: str | None = None,
        segments: Sequence[Segment] = (),
        translated: TranslatedTexts | None = None,
        restart: bool = False,
        publish: bool = False,
    ) -> Job | None:
        """Atomically apply `change`, append `segments` and store `translated` (replacing texts stored
        for the same ids and target); None (nothing written) if the job is gone,
        `worker` no longer holds its lease, or `change` returns None. Ending or requeueing a job
        releases its lease. `change` sees, and the result has, the job without its `options` (`get`
        and `claim` return them).

        `restart` first drops the job's segments and staged segments (a run from zero); `publish`
        makes the staged segments (`stage`) the job's segments, in place of those stored."""
        ...

    def stage(self, job_id: str, segments: Sequence[Segment], *, worker: str) -> bool:
        """Append to the job's staged segments, a rewrite of its result kept apart until `publish`
        (a diarized job's final speakers); False (nothing written) if `worker` lost the job's lease."""
        ...

    def segments(self, job_id: str, start: int = 0, limit: int | None = None) -> list[Segment]:
        """The job's segments from index `start` (>= 0: `check_segment_start`) on, at most `limit`."""
        ...

    def translations(self, job_id: str, target: str) -> dict[int, str]:
        """The job's segment texts stored translated into `target`, by segment id."""
        ...

    def due_webhooks(self, now: float) -> list[str]: ...

    def due_translations(self, now: float) -> list[str]:
        """Jobs whose translation should be taken now (pending, or its runner's lease ran out)."""
        ...

    def due_sweeps(self, now: float) -> list[str]:
        """Jobs whose audio or whole record has expired."""
        ...

    def delete(self, job_id: str) -> None:
        """Remove the job, its segments and its translations (idempotent)."""
        ...

    def counts(self) -> dict[JobStatus, int]: ...

    def close(self) -> None: ...


def check_segment_start(start: int) -> None:
    """Both stores refuse a negative start alike (Redis would count it from the end, SQLite ignore it)."""
    if start < 0:
        raise ValueError(f"segment index {start} is negative")


class JobStoreUnavailableError(Exception):
    """The configured store cannot be opened; the message says which setting to check."""
