"""The jobs feature as one object: the store, the audio, and the background loops of a server.

The loops: JOBS_WORKERS workers, the translation runner (when translation is on, `jobs.translating`),
the webhook sender (when webhooks are on) and the sweeper that
removes expired audio and results, and files no job owns (at start, then every JOBS_SWEEP_SECONDS).
Every replica runs all of them; the store makes each piece of work go to one of them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import httpx

from gigaam_api.audio.spool import SpoolDir
from gigaam_api.config import Settings
from gigaam_api.jobs.audio import JobAudio
from gigaam_api.jobs.backend import open_store
from gigaam_api.jobs.guarded_store import GuardedStore, JobStoreDownError
from gigaam_api.jobs.model import Expiry
from gigaam_api.jobs.store import JobStoreUnavailableError
from gigaam_api.jobs.translating import SegmentTranslator, TranslationRunner
from gigaam_api.jobs.webhooks import WebhookSender
from gigaam_api.jobs.worker import JobWorker, Planner, worker_name

log = logging.getLogger(__name__)

LEFTOVER_MARGIN_SECONDS = 60


def owner_of(api_key: str | None) -> str:
    """Jobs belong to a digest of the key that submitted them (never the key itself)."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:32] if api_key else ""


@dataclass
class JobService:
    settings: Settings
    store: GuardedStore
    audio: JobAudio
    wake: asyncio.Event = field(default_factory=asyncio.Event)  # a job was added here: claim now
    translation_wake: asyncio.Event = field(default_factory=asyncio.Event)  # a translation is due here
    _loops: asyncio.Task[None] | None = None

    @classmethod
    def open(cls, settings: Settings) -> JobService:
        store = open_store(settings)
        try:
            audio = JobAudio(settings.JOBS_DIR, settings.jobs_max_bytes)
        except OSError as exc:
            store.close()
            raise JobStoreUnavailableError(f"JOBS_DIR={settings.JOBS_DIR}: not writable ({exc})") from None
        return cls(settings, GuardedStore(store, timeout=settings.JOBS_STORE_TIMEOUT_SECONDS), audio)

    @property
    def expiry(self) -> Expiry:
        return Expiry(self.settings.JOBS_RESULT_TTL_SECONDS, self.settings.JOBS_AUDIO_TTL_SECONDS)

    def start(self, spool: SpoolDir, plan: Planner, translator: SegmentTranslator | None = None) -> None:
        self._loops = asyncio.ensure_future(self.run(spool, plan, translator))

    def hand_back(self) -> None:
        """Stop every loop (a server that drains or stops): nothing more is claimed, running jobs go
        back to the queue at once, to be resumed from their stored segments by whichever server claims
        them; webhook attempts in flight are sent again once their claim runs out."""
        if self._loops is not None:
            self._loops.cancel()

    async def stopped(self) -> None:
        if self._loops is not None:
            await asyncio.gather(self._loops, return_exceptions=True)

    async def run(self, spool: SpoolDir, plan: Planner, translator: SegmentTranslator | None = None) -> None:
        """The background loops, until cancelled."""
        s = self.settings
        loops: list[Coroutine[Any, Any, None]] = [
            JobWorker(
                self.store,
                self.audio,
                spool,
                plan,
                expiry=self.expiry,
                lease_seconds=s.JOBS_LEASE_SECONDS,
                poll_seconds=s.JOBS_POLL_SECONDS,
                wake=self.wake,
                name=worker_name(slot),
                transcribed=self.translation_wake,
            ).run_forever()
            for slot in range(s.JOBS_WORKERS)
        ]
        if translator is not None:
            runner = TranslationRunner(
                self.store,
                translator,
                lease_seconds=s.JOBS_LEASE_SECONDS,
                poll_seconds=s.JOBS_POLL_SECONDS,
                wake=self.translation_wake,
                name=worker_name(s.JOBS_WORKERS),
            )
            loops.append(runner.run_forever())
        loops.append(_every(s.JOBS_SWEEP_SECONDS, self.sweep))
        if s.JOBS_WEBHOOK_HOSTS:
            loops.append(self._send_webhooks())
        async with asyncio.TaskGroup() as group:  # cancelled, it waits for every loop to wind down
            for loop in loops:
                group.create_task(loop)

    async def _send_webhooks(self) -> None:
        s = self.settings
        sender = WebhookSender(
            self.store,
            secret=s.JOBS_WEBHOOK_SECRET,
            attempts=s.JOBS_WEBHOOK_ATTEMPTS,
            backoff_seconds=s.JOBS_WEBHOOK_BACKOFF_SECONDS,
            timeout_seconds=s.JOBS_WEBHOOK_TIMEOUT_SECONDS,
            concurrency=s.JOBS_WEBHOOK_CONCURRENCY,
        )
        limits = httpx.Limits(max_connections=s.JOBS_WEBHOOK_CONCURRENCY)
        async with httpx.AsyncClient(follow_redirects=False, limits=limits) as client:
            await sender.run(client, s.JOBS_POLL_SECONDS)

    async def sweep(self) -> None:
        """Remove expired audio, expired jobs with everything they stored, and files no job owns."""
        now = time.time()
        # A download writes at least once per JOBS_URL_TIMEOUT_SECONDS and a submission stores its job
        # right after its audio, so files idle for longer than that (plus a margin) belong to nobody.
        older_than = now - self.settings.JOBS_URL_TIMEOUT_SECONDS - LEFTOVER_MARGIN_SECONDS
        await self.store.run(lambda store: self.audio.sweep_leftovers(store.exists, older_than=older_than))
        for job_id in await self.store.due_sweeps(now):
            job = await self.store.get(job_id)
            if job is None:
                continue
            self.audio.remove(job_id)
            if job.expires_at is not None and job.expires_at <= now:
                await self.store.delete(job_id)
            else:
                await self.store.update(job_id, lambda j: dataclasses.replace(j, audio_removed=True))

    def close(self) -> None:
        self.store.close()


async def _every(seconds: float, step: Callable[[], Awaitable[None]]) -> None:
    while True:
        try:
            await step()
        except JobStoreDownError:  # logged by the store once per outage; the next round retries
            pass
        except Exception:  # nothing must end the loop: the next round retries
            log.exception("jobs background step failed")
        await asyncio.sleep(seconds)
