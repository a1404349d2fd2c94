"""Running jobs: claim one, transcribe it as a batch-priority run, store each batch's segments.

Each of JOBS_WORKERS loops claims a job with a lease and keeps the lease alive while the run lasts.
After every batch its segments and the position they reach are stored in one update, so whoever
resumes the job (this server after a restart, another replica) skips exactly what is stored. A
cancelled or deleted job, or a lost lease, stops the run at once; a server that stops gracefully
hands its jobs back to the queue.

A diarized job stores its segments per batch too, with the speakers found so far (the labels a stream
shows). Its speakers are final only at the end of its run (`SpeakerTurns`): then the stored segments are
read back a page at a time, relabelled (and split where a final speaker changes inside one), staged
beside them and published in one atomic update with the job's success, so memory holds one page, never
the transcript. The speakers found so far live only in the run, so a diarized job that is resumed (a
restart, another replica) runs again from zero: its first update drops what the lost run stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable
from functools import partial

from gigaam_api.audio.spool import SpoolDir, SpoolFullError
from gigaam_api.engines.base import EngineOptions
from gigaam_api.errors import APIError, disk_full, is_disk_full, spool_full
from gigaam_api.jobs.audio import JobAudio
from gigaam_api.jobs.guarded_store import GuardedStore, JobStoreDownError
from gigaam_api.jobs.model import Expiry, Job, JobError, checkpoint, ended, requeued, restarted
from gigaam_api.options.diarization import diarization_options
from gigaam_api.options.transcription import TranscriptionOptions
from gigaam_api.pipeline.protocol import Resume, Run, SpeakerTurns, Transcriber
from gigaam_api.speakers.turns import Turn, TurnIndex, attribute
from gigaam_api.transcript import Segment

# The served model and the engine options for a job's options (an APIError if no served model takes
# them); None until the default model is loaded. The app gives it: it knows the served models.
Planner = Callable[[TranscriptionOptions], tuple[Transcriber, EngineOptions] | None]

log = logging.getLogger(__name__)
RELABEL_PAGE = 256  # stored segments relabelled at a time when a diarized job's speakers are final


def worker_name(slot: int) -> str:
    """Unique per loop and process: a lease names exactly one runner."""
    return f"{socket.gethostname()}-{os.getpid()}-{slot}-{secrets.token_hex(4)}"


class JobWorker:
    def __init__(
        self,
        store: GuardedStore,
        audio: JobAudio,
        spool: SpoolDir,
        plan: Planner,
        *,
        expiry: Expiry,
        lease_seconds: float,
        poll_seconds: float,
        wake: asyncio.Event,
        name: str,
        transcribed: asyncio.Event | None = None,
    ) -> None:
        self._store = store
        self._audio = audio
        self._spool = spool
        self._plan = plan
        self._expiry = expiry
        self._lease = lease_seconds
        self._poll = poll_seconds
        self._wake = wake
        self.name = name
        self._transcribed = transcribed  # set when a transcript is done: its translation may be due

    async def run_forever(self) -> None:
        while True:
            job = None
            self._wake.clear()  # before the claim: a job added after it wakes us
            if self._plan(TranscriptionOptions()) is not None:  # the default model is loaded
                try:
                    job = await self._store.claim(self.name, self._lease, time.time())
                except JobStoreDownError:  # logged by the store once per outage: retry after the poll
                    pass
                except Exception:
                    log.exception("claiming a job failed")
            if job is None:
                # asyncio.timeout, not wait_for: Python 3.11's wait_for drops a cancellation that comes
                # with the wake-up, and a worker woken as the server stops would hold its shutdown.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._poll):
                        await self._wake.wait()
                continue
            try:
                await self._run(job)
            except JobStoreDownError:  # the lease lapses and the job is resumed from what is stored
                log.warning("job %s: run ended, the job store is unavailable", job.id)
            except Exception:  # the store failed mid-run: the lease lapses and the job is resumed
                log.exception("job %s: run ended by an error", job.id)

    async def _run(self, job: Job) -> None:
        log.info("job %s: run %d from %.1f s", job.id, job.runs, job.processed_seconds)
        work = asyncio.ensure_future(self._transcribe(job))
        lost = asyncio.Event()
        keeper = asyncio.ensure_future(self._keep_lease(job.id, work, lost))
        try:
            await work
        except asyncio.CancelledError:
            if not lost.is_set():  # the server is stopping: the next one resumes from what is stored
                try:
                    await self._store.update(job.id, requeued, worker=self.name)
                except Exception:  # the worker must stop all the same; the job's lease lapses instead
                    log.warning("job %s: not handed back (the job store failed): its lease lapses", job.id)
                raise
            log.info("job %s: stopped (cancelled, deleted or taken over)", job.id)
        finally:
            keeper.cancel()
            await asyncio.gather(keeper, return_exceptions=True)

    async def _keep_lease(self, job_id: str, work: asyncio.Future[None], lost: asyncio.Event) -> None:
        while not work.done():
            await asyncio.sleep(self._lease / 3)
            if not await self._store.renew(job_id, self.name, self._lease, time.time()):
                lost.set()
                work.cancel()
                return

    async def _transcribe(self, job: Job) -> None:
        try:
            planned = self._plan(job.options or TranscriptionOptions())
            assert planned is not None, "claimed only while the default model is loaded"
            transcriber, options = planned
            references = self._audio.reference_paths(job.id)
            diarization = diarization_options(job.options or TranscriptionOptions(), references)
            resume = Resume(job.processed_seconds, job.segment_count)
            if diarization is not None:
                resume = Resume()  # the speakers found so far were the lost run's: from zero
                if (job.processed_seconds or job.segment_count) and not await self._store.update(
                    job.id, restarted, worker=self.name, restart=True
                ):
                    return
            with self._spool.files() as files:
                run = await transcriber.start(
                    self._audio.path(job.id), files, options, resume=resume, diarization=diarization
                )
                try:
                    await self._store_run(job.id, run)
                    if self._transcribed is not None:
                        self._transcribed.set()  # its translation may be due
                finally:
                    await run.aclose()
        except JobStoreDownError:
            raise  # not the job's fault: it is resumed once the store answers
        except APIError as exc:
            await self._fail(job.id, JobError(exc.message, exc.code))
        except Exception as exc:
            await self._fail(job.id, _error_of(job.id, exc))

    async def _store_run(self, job_id: str, run: Run) -> None:
        """Store each batch's segments with its progress, then end the job (a diarized one relabelled)."""
        pending: list[Segment] = []
        turns: tuple[Turn, ...] | None = None
        async for event in run.events():
            if isinstance(event, Segment):
                pending.append(event)
            elif isinstance(event, SpeakerTurns):
                turns = event.turns
            else:  # Progress: the batch is done
                if await self._store_batch(job_id, pending, event.processed_seconds, run) is None:
                    return  # cancelled or taken over between two heartbeats
                pending = []
        if turns is None:
            success = partial(_succeeded, self._expiry, run.duration, run.language, len(pending))
            await self._store.update(job_id, success, worker=self.name, segments=pending)
            return
        # The last batch's Progress came before the turns: every segment is stored.
        count = await self._stage_relabelled(job_id, turns)
        if count is not None:
            success = partial(_relabelled, self._expiry, run.duration, run.language, count)
            await self._store.update(job_id, success, worker=self.name, publish=True)

    async def _stage_relabelled(self, job_id: str, turns: tuple[Turn, ...]) -> int | None:
        """Stage the job's stored segments with their final speakers, a page at a time; their count, or
        None if the job was cancelled or taken over meanwhile."""
        index = TurnIndex(turns)
        start = staged = 0
        while page := await self._store.segments(job_id, start, RELABEL_PAGE):
            start += len(page)
            final = attribute(page, index, first_id=staged)
            if not await self._store.stage(job_id, final, worker=self.name):
                return None
            staged += len(final)
        return staged

    async def _store_batch(
        self, job_id: str, segments: list[Segment], processed: float, run: Run
    ) -> Job | None:
        change = partial(
            checkpoint,
            new_segments=len(segments),
            processed=processed,
            duration=run.duration,
            language=run.language,
        )
        return await self._store.update(job_id, change, worker=self.name, segments=segments)

    async def _fail(self, job_id: str, error: JobError) -> None:
        change = partial(_failed, self._expiry, error)
        await self._store.update(job_id, change, worker=self.name)


def _succeeded(
    expiry: Expiry, duration: float | None, language: str | None, new_segments: int, job: Job
) -> Job | None:
    stored = checkpoint(
        job, new_segments=new_segments, processed=duration or 0.0, duration=duration, language=language
    )
    return None if stored is None else ended(stored, "succeeded", time.time(), expiry)


def _relabelled(
    expiry: Expiry, duration: float | None, language: str | None, segment_count: int, job: Job
) -> Job | None:
    """A diarized job's end: its published segments (the staged ones) replace the stored count."""
    if job.status != "running":
        return None
    return _succeeded(expiry, duration, language, segment_count - job.segment_count, job)


def _error_of(job_id: str, exc: Exception) -> JobError:
    """What a job that failed with `exc` says: a full spool or disk by name, anything else as internal."""
    if isinstance(exc, SpoolFullError):
        return JobError(spool_full().message, spool_full().code)
    if is_disk_full(exc):
        return JobError(disk_full().message, disk_full().code)
    log.error("job %s failed", job_id, exc_info=exc)
    return JobError("The transcription failed because of an internal error.")


def _failed(expiry: Expiry, error: JobError, job: Job) -> Job | None:
    return ended(job, "failed", time.time(), expiry, error)
