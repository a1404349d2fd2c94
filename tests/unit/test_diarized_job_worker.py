"""A diarized job stores its segments batch by batch (online speakers) and relabels them at its end a page
at a time, so its memory does not grow with the audio; resumed, it runs again from zero.

A scripted run (no model: the events a diarized `PipelineRun` yields) against the real SQLite store and the
real worker; the run waits at a gate after each batch so the test reads the store mid-job.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from gigaam_api.audio.spool import RequestFiles, SpoolDir
from gigaam_api.engines.base import EngineOptions
from gigaam_api.jobs import worker as worker_module
from gigaam_api.jobs.audio import JobAudio
from gigaam_api.jobs.guarded_store import GuardedStore
from gigaam_api.jobs.model import Expiry, Job, checkpoint, new_job_id
from gigaam_api.jobs.sqlite_store import SqliteJobStore
from gigaam_api.jobs.worker import JobWorker
from gigaam_api.options.transcription import TranscriptionOptions
from gigaam_api.pipeline.protocol import Progress, Resume, RunEvent, SpeakerTurns
from gigaam_api.speakers.options import DiarizationOptions
from gigaam_api.speakers.turns import Turn, attribute
from gigaam_api.transcript import Segment, Word

EXPIRY = Expiry(result_seconds=100, audio_seconds=100)


def _segment(i: int, start: float, speaker: str, *words: tuple[str, float, float]) -> Segment:
    text = " ".join(w for w, _, _ in words)
    return Segment(i, start, words[-1][2], text, words=tuple(Word(*w) for w in words), speaker=speaker)


# Two batches as a diarized run yields them: segments with their online speakers, then the batch's end.
BATCHES: list[list[Segment]] = [
    [
        _segment(0, 0.0, "A", ("раз", 0.0, 0.8), ("два", 1.0, 1.9)),
        _segment(1, 2.0, "B", ("три", 2.0, 2.9), ("четыре", 3.1, 3.9)),
    ],
    [_segment(2, 4.0, "A", ("пять", 4.0, 4.9), ("шесть", 5.0, 5.9))],
]
# The final speakers: the second segment's first word is A's after all, the third segment is B's.
FINAL_TURNS = (Turn(0.0, 3.0, "A"), Turn(3.0, 6.0, "B"))


class SpyStore(SqliteJobStore):
    """The real SQLite store, noting every segment read: what the worker holds in memory at once."""

    reads: list[tuple[int, int | None, int]]

    def segments(self, job_id: str, start: int = 0, limit: int | None = None) -> list[Segment]:
        found = super().segments(job_id, start, limit)
        self.reads.append((start, limit, len(found)))
        return found


class ScriptedRun:
    def __init__(self, gate: asyncio.Queue[str], passed: asyncio.Queue[float]) -> None:
        self._gate, self._passed = gate, passed

    @property
    def duration(self) -> float:
        return 6.0

    @property
    def language(self) -> str:
        return "ru"

    async def events(self) -> AsyncIterator[RunEvent]:
        for batch in BATCHES:
            for segment in batch:
                yield segment
            end = batch[-1].end
            yield Progress(end, 6.0)
            await self._passed.put(end)  # the worker has stored the batch
            await self._gate.get()
        yield SpeakerTurns(FINAL_TURNS)

    async def aclose(self) -> None:
        pass


@dataclasses.dataclass
class ScriptedTranscriber:
    gate: asyncio.Queue[str]
    passed: asyncio.Queue[float]
    starts: list[tuple[Resume | None, DiarizationOptions | None]] = dataclasses.field(default_factory=list)

    async def start(
        self,
        upload: Path,
        files: RequestFiles,
        options: EngineOptions,
        *,
        resume: Resume | None = None,
        diarization: DiarizationOptions | None = None,
    ) -> ScriptedRun:
        self.starts.append((resume, diarization))
        return ScriptedRun(self.gate, self.passed)


async def _run_job(
    tmp_path: Path, prepare: Sequence[str] = ()
) -> tuple[SpyStore, Job, ScriptedTranscriber, list[list[Segment]]]:
    """Run one diarized job to its end; the store's segments as they were after each batch and at the
    end (the last of `seen`)."""
    spy = SpyStore(tmp_path / "jobs.sqlite3")
    spy.reads = []
    store = GuardedStore(spy, timeout=60)
    job = spy.add(Job(new_job_id(), "", time.time(), 100, TranscriptionOptions(diarize=True)))
    if "lost run" in prepare:  # a worker that stored a batch and died: its lease has lapsed
        assert spy.claim("lost", -1.0, time.time()) is not None
        stale = [dataclasses.replace(s, text="от потерянного прогона") for s in BATCHES[0]]
        step = lambda j: checkpoint(j, new_segments=2, processed=4.0, duration=6.0, language="ru")  # noqa: E731
        assert spy.update(job.id, step, worker="lost", segments=stale) is not None
    transcriber = ScriptedTranscriber(asyncio.Queue(), asyncio.Queue())
    wake = asyncio.Event()
    worker = JobWorker(
        store,
        JobAudio(tmp_path / "jobs", 10**9),
        SpoolDir(tmp_path / "spool"),
        lambda _: (transcriber, EngineOptions()),  # type: ignore[arg-type, return-value]
        expiry=EXPIRY,
        lease_seconds=600,
        poll_seconds=3600,
        wake=wake,
        name="worker",
    )
    task = asyncio.ensure_future(worker.run_forever())
    seen = []
    try:
        for _ in BATCHES:
            await transcriber.passed.get()
            seen.append(spy.segments(job.id))
            await transcriber.gate.put("go")
        while (current := spy.get(job.id)) is None or not current.terminal:
            await asyncio.sleep(0.01)  # the run's last step is the worker's own: nothing to gate on
        seen.append(spy.segments(job.id))
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        store.close()
    return spy, current, transcriber, seen


def test_segments_are_stored_per_batch_then_relabelled_a_page_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker_module, "RELABEL_PAGE", 2)
    spy, job, transcriber, seen = asyncio.run(_run_job(tmp_path))

    # Each batch is in the store, with its online speakers, before the next one runs.
    assert seen[:2] == [BATCHES[0], BATCHES[0] + BATCHES[1]]
    # The end: every segment with its final speaker, split where it changes, ids in order.
    online = [s for batch in BATCHES for s in batch]
    final = seen[-1]
    assert final == attribute(online, FINAL_TURNS, first_id=0)
    assert [(s.speaker, s.text) for s in final] == [
        ("A", "раз два"),
        ("A", "три"),
        ("B", "четыре"),
        ("B", "пять шесть"),
    ]
    assert (job.status, job.segment_count, job.processed_seconds) == ("succeeded", 4, 6.0)
    # The worker read the stored segments back in pages, never the whole transcript.
    relabel_reads = [r for r in spy.reads if r[1] is not None]
    assert relabel_reads and all(limit == 2 and count <= 2 for _, limit, count in relabel_reads)
    assert [start for start, _, _ in relabel_reads] == [0, 2, 3]
    assert transcriber.starts[0][0] == Resume()


def test_a_resumed_diarized_job_runs_from_zero_and_drops_the_lost_runs_segments(tmp_path: Path) -> None:
    _, job, transcriber, seen = asyncio.run(_run_job(tmp_path, ["lost run"]))

    assert transcriber.starts[0][0] == Resume()  # not from 4.0 s: the lost run's speakers are gone
    assert seen[0] == BATCHES[0]  # its stale segments were dropped before the first batch was stored
    assert job.status == "succeeded" and job.runs == 2
    assert all(s.text != "от потерянного прогона" for s in seen[-1])
    assert seen[-1] == attribute([s for b in BATCHES for s in b], FINAL_TURNS, first_id=0)


@pytest.mark.parametrize("diarized", [False, True])
def test_a_finished_diarized_jobs_events_after_a_reconnect_are_the_final_transcript_alone(
    tmp_path: Path, diarized: bool
) -> None:
    """A client that saw online-labelled segments gets no stored segment past them (the relabelled list
    is another one: some split in two), only `done` with the whole final transcript."""
    from types import SimpleNamespace

    from gigaam_api.api.event_stream import Finished
    from gigaam_api.api.jobs import _job_items
    from gigaam_api.jobs.model import ended

    backend = SqliteJobStore(tmp_path / "jobs.sqlite3")
    job = backend.add(Job(new_job_id(), "", time.time(), 100, TranscriptionOptions(diarize=diarized)))
    assert backend.claim("w", 600, time.time()) is not None
    final = attribute([s for b in BATCHES for s in b], FINAL_TURNS, first_id=0)
    step = lambda j: checkpoint(j, new_segments=4, processed=6.0, duration=6.0, language="ru")  # noqa: E731
    backend.update(job.id, step, worker="w", segments=final)
    backend.update(job.id, lambda j: ended(j, "succeeded", time.time(), EXPIRY), worker="w")
    store = GuardedStore(backend, timeout=60)

    async def items(index: int) -> list[object]:
        jobs = SimpleNamespace(store=store)
        return [i async for i in _job_items(jobs, job.id, index, relabelled=diarized)]  # type: ignore[arg-type]

    try:
        resumed = asyncio.run(items(2))
        fresh = asyncio.run(items(0))
    finally:
        store.close()
    assert resumed == ([Finished(6.0, final)] if diarized else [*final[2:], Finished(6.0, final)])
    assert fresh == [*final, Finished(6.0, final)]  # from the start: the final segments, then done
