"""The job store as the server uses it: async calls on threads of their own, each with a timeout.

A store that is down (Redis killed) or hung (Redis stopped, a stuck disk) must not take anything else
with it. Its calls run on a small pool of their own, never on the event loop's default pool that the
result cache, decoding and the rest share; a call that does not answer within JOBS_STORE_TIMEOUT_SECONDS,
or fails with one of the backend's outage errors, raises `JobStoreDownError` (the API answers 503
`store_unavailable`). A timed-out call's thread stays blocked until the backend lets it go (Redis: its
socket timeout, the same setting; SQLite: its 30-s busy timeout, or never on a hung disk); calls queued
behind it are cancelled before they start. The pool's size
bounds how many threads a hung store can hold. Going down and coming back are logged once each.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TypeVar

from gigaam_api.errors import APIError, busy
from gigaam_api.jobs.model import Job, JobStatus
from gigaam_api.jobs.store import Change, JobStore, TranslatedTexts
from gigaam_api.transcript import Segment

log = logging.getLogger(__name__)

T = TypeVar("T")
THREADS = 8
PROBE_SECONDS = 2.0  # /health and /metrics ask at most this long: they must answer while the store hangs


class JobStoreDownError(Exception):
    """The store did not answer in time, or could not be reached."""


def store_unavailable() -> APIError:
    return busy(
        "The job store is unavailable; retry shortly. Transcriptions without a job still work.",
        "store_unavailable",
        retry_after=5,
    )


class GuardedStore:
    def __init__(self, backend: JobStore, *, timeout: float, threads: int = THREADS) -> None:
        self.backend = backend
        self._timeout = timeout
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="jobs-store")
        self.down_since: float | None = None  # wall clock of the first failure of the current outage

    @property
    def kind(self) -> str:
        return self.backend.kind

    async def _call(self, call: Callable[[], T], timeout: float | None = None) -> T:
        limit = self._timeout if timeout is None else min(timeout, self._timeout)
        future = asyncio.get_running_loop().run_in_executor(self._pool, call)
        try:
            async with asyncio.timeout(limit):  # not wait_for: on 3.11 it can swallow a cancellation
                result = await future
        except TimeoutError:
            self._went_down(f"no answer within {limit:g} s")
            raise JobStoreDownError from None
        except self.backend.outage_errors as exc:
            self._went_down(type(exc).__name__)
            raise JobStoreDownError from None
        if self.down_since is not None:
            log.warning("the job store answers again (down for %.0f s)", time.time() - self.down_since)
            self.down_since = None
        return result

    def _went_down(self, why: str) -> None:
        if self.down_since is None:
            self.down_since = time.time()
            log.error("the job store (%s) is unavailable: %s", self.kind, why)

    async def available(self) -> bool:
        """Whether the store answers a ping within PROBE_SECONDS."""
        try:
            await self._call(self.backend.ping, PROBE_SECONDS)
        except JobStoreDownError:
            return False
        return True

    async def run(self, call: Callable[[JobStore], T]) -> T:
        """`call(backend)` on the store's threads, with the timeout: for work that asks the store per item."""
        return await self._call(partial(call, self.backend))

    async def exists(self, job_id: str) -> bool:
        return await self._call(partial(self.backend.exists, job_id))

    async def add(self, job: Job) -> Job:
        return await self._call(partial(self.backend.add, job))

    async def get(self, job_id: str) -> Job | None:
        return await self._call(partial(self.backend.get, job_id))

    async def page(
        self, owner: str, *, status: JobStatus | None, before_seq: int | None, limit: int
    ) -> list[Job]:
        return await self._call(
            partial(self.backend.page, owner, status=status, before_seq=before_seq, limit=limit)
        )

    async def claim(self, worker: str, lease_seconds: float, now: float) -> Job | None:
        return await self._call(partial(self.backend.claim, worker, lease_seconds, now))

    async def renew(self, job_id: str, worker: str, lease_seconds: float, now: float) -> bool:
        return await self._call(partial(self.backend.renew, job_id, worker, lease_seconds, now))

    async def update(
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
        update = self.backend.update
        return await self._call(
            partial(
                update,
                job_id,
                change,
                worker=worker,
                segments=segments,
                translated=translated,
                restart=restart,
                publish=publish,
            )
        )

    async def stage(self, job_id: str, segments: Sequence[Segment], *, worker: str) -> bool:
        return await self._call(partial(self.backend.stage, job_id, segments, worker=worker))

    async def segments(self, job_id: str, start: int = 0, limit: int | None = None) -> list[Segment]:
        return await self._call(partial(self.backend.segments, job_id, start, limit))

    async def translations(self, job_id: str, target: str) -> dict[int, str]:
        return await self._call(partial(self.backend.translations, job_id, target))

    async def due_webhooks(self, now: float) -> list[str]:
        return await self._call(partial(self.backend.due_webhooks, now))

    async def due_translations(self, now: float) -> list[str]:
        return await self._call(partial(self.backend.due_translations, now))

    async def due_sweeps(self, now: float) -> list[str]:
        return await self._call(partial(self.backend.due_sweeps, now))

    async def delete(self, job_id: str) -> None:
        await self._call(partial(self.backend.delete, job_id))

    async def counts(self, *, timeout: float | None = None) -> dict[JobStatus, int]:
        return await self._call(self.backend.counts, timeout)

    def close(self) -> None:
        """Threads still blocked on a hung store are not waited for: their socket timeout ends them."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.backend.close()
