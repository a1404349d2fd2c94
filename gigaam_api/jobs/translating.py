"""Translating `translate` jobs' transcripts in the background, once, durably.

A job whose transcript has succeeded has its translation due (`model.Translation`). This loop claims
due translations with a lease, as job workers claim jobs, sends the segments not yet translated to the
LLM a bounded chunk at a time (the translator's batches, its concurrency) and stores each chunk's texts
with the count in one update. So results and events are read without the LLM, and a translation whose
server stops (handed back) or dies (its lease runs out) is taken over from the texts already stored.
The LLM failing fails the translation with the reason; the transcript stays as it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from functools import partial
from typing import Protocol

from gigaam_api.errors import APIError
from gigaam_api.jobs import translation_state
from gigaam_api.jobs.guarded_store import GuardedStore, JobStoreDownError
from gigaam_api.jobs.model import Job, JobError
from gigaam_api.jobs.store import TranslatedTexts
from gigaam_api.options.transcription import TranscriptionOptions
from gigaam_api.transcript import Segment

log = logging.getLogger(__name__)


class SegmentTranslator(Protocol):
    """What the loop needs of `gigaam_api.translation.translator.Translator` (the app gives it)."""

    batch_segments: int
    concurrency: int

    async def translate(
        self, segments: Sequence[Segment], target: str, *, prompt: str | None = None, temperature: float = 0.0
    ) -> list[Segment]: ...


class TranslationRunner:
    def __init__(
        self,
        store: GuardedStore,
        translator: SegmentTranslator,
        *,
        lease_seconds: float,
        poll_seconds: float,
        wake: asyncio.Event,
        name: str,
    ) -> None:
        self._store = store
        self._translator = translator
        self._lease = lease_seconds
        self._poll = poll_seconds
        self._wake = wake
        self.name = name

    async def run_forever(self) -> None:
        while True:
            self._wake.clear()  # before looking: a translation due after it wakes us
            try:
                await self.run_due()
            except JobStoreDownError:  # logged by the store once per outage: retry after the poll
                pass
            except Exception:
                log.exception("running due translations failed")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll):
                    await self._wake.wait()

    async def run_due(self) -> None:
        """Claim and run due translations, one at a time (the translator sends each one's batches at once)."""
        for job_id in await self._store.due_translations(time.time()):
            claim = partial(
                translation_state.claimed, worker=self.name, now=time.time(), lease_seconds=self._lease
            )
            job = await self._store.update(job_id, claim)
            if job is not None and job.translation is not None:
                await self._run(job, job.translation.target)

    async def _run(self, job: Job, target: str) -> None:
        log.info("job %s: translating into %s", job.id, target)
        work = asyncio.ensure_future(self._translate(job.id, target))
        lost = asyncio.Event()
        keeper = asyncio.ensure_future(self._keep_lease(job.id, target, work, lost))
        try:
            await work
        except asyncio.CancelledError:
            if not lost.is_set():  # the server is stopping: the next one goes on from what is stored
                with contextlib.suppress(Exception):  # if not, its lease lapses instead
                    back = partial(
                        translation_state.handed_back, worker=self.name, target=target, now=time.time()
                    )
                    await self._store.update(job.id, back)
                raise
            log.info("job %s: translation stopped (retried, deleted or taken over)", job.id)
        finally:
            keeper.cancel()
            await asyncio.gather(keeper, return_exceptions=True)

    async def _keep_lease(
        self, job_id: str, target: str, work: asyncio.Future[None], lost: asyncio.Event
    ) -> None:
        while not work.done():
            await asyncio.sleep(self._lease / 3)
            renew = partial(
                translation_state.renewed,
                worker=self.name,
                target=target,
                now=time.time(),
                lease_seconds=self._lease,
            )
            if await self._store.update(job_id, renew) is None:
                lost.set()
                work.cancel()
                return

    async def _translate(self, job_id: str, target: str) -> None:
        error: JobError | None = None
        done: dict[int, str] = {}
        try:
            job = await self._store.get(job_id)
            options = (job.options if job is not None else None) or TranscriptionOptions()
            done.update(await self._store.translations(job_id, target))
            todo = [s for s in await self._store.segments(job_id) if s.id not in done]
            chunk = self._translator.batch_segments * self._translator.concurrency
            for start in range(0, len(todo), chunk):
                translated = await self._translator.translate(
                    todo[start : start + chunk],
                    target,
                    prompt=options.prompt,
                    temperature=options.temperature,
                )
                texts = {s.id: s.text for s in translated}
                done.update(texts)
                stored = partial(
                    translation_state.renewed,
                    worker=self.name,
                    target=target,
                    now=time.time(),
                    lease_seconds=self._lease,
                    translated=len(done),
                )
                batch = TranslatedTexts(target, texts)
                if await self._store.update(job_id, stored, translated=batch) is None:
                    return  # retried, deleted or taken over between two heartbeats
        except JobStoreDownError:
            raise  # not the translation's fault: its lease lapses and it is taken over from what is stored
        except APIError as exc:  # the LLM is down, slow, or its answers never matched
            error = JobError(exc.message, exc.code)
        except Exception:
            log.exception("job %s: translation failed", job_id)
            error = JobError("The translation failed because of an internal error.", "translation_failed")
        end = partial(
            translation_state.finished,
            worker=self.name,
            target=target,
            now=time.time(),
            error=error,
            translated=None if error else len(done),
        )
        await self._store.update(job_id, end)
