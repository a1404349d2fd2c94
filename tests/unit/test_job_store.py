"""One contract, two stores: the embedded SQLite file and a real Redis server behave the same."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import pytest

from gigaam_api.jobs.model import (
    Expiry,
    Job,
    JobError,
    Webhook,
    checkpoint,
    ended,
    new_job_id,
    requeued,
    restarted,
)
from gigaam_api.jobs.redis_store import PREFIX, RedisJobStore
from gigaam_api.jobs.store import Change, JobStore
from gigaam_api.options.transcription import TranscriptionOptions
from gigaam_api.transcript import Segment, Token, Word
from tests.fixtures.waiting import wait_until

EXPIRY = Expiry(result_seconds=100, audio_seconds=10)
LEASE = 30.0


def _job(owner: str = "alice", **changes: object) -> Job:
    job = Job(new_job_id(), owner, time.time(), 1000, TranscriptionOptions(language="ru"))
    return dataclasses.replace(job, **changes)  # type: ignore[arg-type]


def _segment(i: int) -> Segment:
    return Segment(
        i,
        i * 2.0,
        i * 2.0 + 1.5,
        f"текст {i}",
        (1, 2),
        -0.25,
        1.1,
        0.0,
        (Word("текст", i * 2.0, i * 2.0 + 1),),
        (Token(1, "те", i * 2.0, -0.5),),
    )


def test_jobs_are_claimed_in_submission_order(store: JobStore) -> None:
    first, second = store.add(_job()), store.add(_job())
    assert second.seq > first.seq
    now = time.time()
    claimed = store.claim("w1", LEASE, now)
    assert claimed is not None and claimed.id == first.id
    assert claimed.status == "running" and claimed.runs == 1
    nxt = store.claim("w2", LEASE, now)
    assert nxt is not None and nxt.id == second.id
    assert store.claim("w3", LEASE, now) is None
    assert store.counts()["running"] == 2


def test_only_the_lease_holder_writes(store: JobStore) -> None:
    job = store.add(_job())
    assert store.claim("w1", LEASE, time.time()) is not None
    assert store.renew(job.id, "w1", LEASE, time.time())
    assert not store.renew(job.id, "w2", LEASE, time.time())
    step = lambda j: checkpoint(j, new_segments=2, processed=4.0, duration=9.0, language="ru")  # noqa: E731
    assert store.update(job.id, step, worker="w2", segments=[_segment(0), _segment(1)]) is None
    stored = store.update(job.id, step, worker="w1", segments=[_segment(0), _segment(1)])
    assert stored is not None and stored.segment_count == 2 and stored.processed_seconds == 4.0
    assert store.segments(job.id) == [_segment(0), _segment(1)]  # every field survives the round trip
    assert store.segments(job.id, 1) == [_segment(1)]


def test_a_lapsed_lease_is_taken_over(store: JobStore) -> None:
    job = store.add(_job())
    now = time.time()
    assert store.claim("dead", 0.05, now) is not None
    taken: list[Job] = []

    def claim() -> bool:
        # SQLite compares with the caller's clock, Redis with its own TTL: both see the lease lapse.
        found = store.claim("alive", LEASE, time.time())
        taken.extend([found] if found else [])
        return bool(taken)

    wait_until(claim, "the lapsed job is claimed again")
    assert taken[0].id == job.id and taken[0].runs == 2
    assert not store.renew(job.id, "dead", LEASE, time.time())


def test_a_lease_that_lapses_inside_the_claim_loses_no_job(
    store: JobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stall longer than the lease between taking the job and recording the claim (seen on a loaded
    CI machine with a 50 ms lease): the job must stay claimable, not vanish from the queue."""
    job = store.add(_job())
    update, stalled = store.update, list[str]()

    def update_after_a_stall(job_id: str, change: Change, **kw: Any) -> Job | None:
        if not stalled and kw.get("worker") == "w1" and isinstance(store, RedisJobStore):
            stalled.append(job_id)  # SQLite claims in one transaction: nothing can lapse inside it
            store._redis.delete(PREFIX + "lease:" + job_id)
        return update(job_id, change, **kw)

    monkeypatch.setattr(store, "update", update_after_a_stall)
    claimed = store.claim("w1", LEASE, time.time())
    assert claimed is not None and claimed.id == job.id
    assert store.renew(job.id, "w1", LEASE, time.time())
    assert store.counts()["running"] == 1


def test_cancel_stops_the_worker_and_the_queue(store: JobStore) -> None:
    running, queued = store.add(_job()), store.add(_job())
    store.claim("w1", LEASE, time.time())
    cancel = lambda j: ended(j, "cancelled", time.time(), EXPIRY, JobError("Cancelled.", "cancelled"))  # noqa: E731
    for job in (running, queued):
        stopped = store.update(job.id, cancel)
        assert stopped is not None and stopped.status == "cancelled"
    assert not store.renew(running.id, "w1", LEASE, time.time())
    assert store.claim("w2", LEASE, time.time()) is None
    assert store.update(running.id, cancel) is None  # already ended


def test_a_requeued_job_goes_first(store: JobStore) -> None:
    first, second = store.add(_job()), store.add(_job())
    store.claim("w1", LEASE, time.time())
    assert store.update(first.id, requeued, worker="w1") is not None
    again = store.claim("w2", LEASE, time.time())
    assert again is not None and again.id == first.id
    assert (store.claim("w3", LEASE, time.time()) or first).id == second.id


def test_pages_by_owner_and_status(store: JobStore) -> None:
    mine = [store.add(_job("alice")) for _ in range(3)]
    store.add(_job("bob"))
    page = store.page("alice", status=None, before_seq=None, limit=2)
    assert [j.id for j in page] == [mine[2].id, mine[1].id]
    assert [j.id for j in store.page("alice", status=None, before_seq=mine[1].seq, limit=5)] == [mine[0].id]
    assert store.page("alice", status="succeeded", before_seq=None, limit=5) == []
    assert len(store.page("alice", status="queued", before_seq=None, limit=5)) == 3


def test_ended_jobs_are_due_for_webhooks_and_sweeps(store: JobStore) -> None:
    job = store.add(_job(webhook=Webhook("http://127.0.0.1/hook")))
    store.claim("w1", LEASE, time.time())
    now = time.time()
    assert store.due_webhooks(now + 1000) == [] and store.due_sweeps(now + 1000) == []
    store.update(job.id, lambda j: ended(j, "succeeded", now, EXPIRY), worker="w1")
    assert store.due_webhooks(now) == [job.id]
    assert store.due_sweeps(now + 5) == []
    assert store.due_sweeps(now + 10) == [job.id]  # the audio first
    store.update(job.id, lambda j: dataclasses.replace(j, audio_removed=True))
    assert store.due_sweeps(now + 50) == []
    assert store.due_sweeps(now + 100) == [job.id]  # then the whole job
    store.delete(job.id)
    assert store.get(job.id) is None and store.segments(job.id) == []
    assert store.due_webhooks(now) == [] and store.due_sweeps(now + 100) == []
    assert sum(store.counts().values()) == 0


def test_a_negative_segment_index_is_refused_by_both(store: JobStore) -> None:
    job = store.add(_job())
    assert store.claim("w1", LEASE, time.time()) is not None
    step = lambda j: checkpoint(j, new_segments=3, processed=6.0, duration=9.0, language="ru")  # noqa: E731
    assert store.update(job.id, step, worker="w1", segments=[_segment(i) for i in range(3)]) is not None
    with pytest.raises(ValueError, match="negative"):
        store.segments(job.id, -1)  # Redis once counted it from the end, SQLite ignored it
    assert store.segments(job.id, 3) == []


def _final(segment: Segment, speaker: str) -> Segment:
    return dataclasses.replace(segment, speaker=speaker)


def test_segments_are_read_a_page_at_a_time(store: JobStore) -> None:
    job = store.add(_job())
    assert store.claim("w1", LEASE, time.time()) is not None
    step = lambda j: checkpoint(j, new_segments=5, processed=9.0, duration=9.0, language="ru")  # noqa: E731
    store.update(job.id, step, worker="w1", segments=[_segment(i) for i in range(5)])
    assert store.segments(job.id, 1, 2) == [_segment(1), _segment(2)]
    assert store.segments(job.id, 4, 10) == [_segment(4)]
    assert store.segments(job.id, 5, 2) == [] and store.segments(job.id, 0, 0) == []
    assert store.segments(job.id, 2) == [_segment(i) for i in range(2, 5)]


def test_staged_segments_replace_the_stored_ones_only_when_published(store: JobStore) -> None:
    """A diarized job's final speakers: written beside its segments, then swapped in with its end."""
    job = store.add(_job())
    assert store.claim("w1", LEASE, time.time()) is not None
    step = lambda j: checkpoint(j, new_segments=2, processed=4.0, duration=4.0, language="ru")  # noqa: E731
    online = [_final(_segment(0), "A"), _final(_segment(1), "B")]
    store.update(job.id, step, worker="w1", segments=online)
    final = [_final(_segment(0), "A"), _final(_segment(1), "A"), _final(_segment(2), "C")]

    assert not store.stage(job.id, final[:1], worker="w2")  # not the lease holder: nothing written
    assert store.stage(job.id, final[:2], worker="w1") and store.stage(job.id, final[2:], worker="w1")
    assert store.segments(job.id) == online  # readers see the online labels until the end

    def done(j: Job) -> Job | None:
        return ended(dataclasses.replace(j, segment_count=3), "succeeded", time.time(), EXPIRY)

    assert store.update(job.id, done, worker="w2", publish=True) is None
    assert store.segments(job.id) == online
    ended_job = store.update(job.id, done, worker="w1", publish=True)
    assert ended_job is not None and ended_job.segment_count == 3
    assert store.segments(job.id) == final
    assert store.stage(job.id, final, worker="w1") is False  # ended: no lease to write under


def test_a_restart_drops_the_stored_and_the_staged_segments(store: JobStore) -> None:
    job = store.add(_job())
    assert store.claim("w1", LEASE, time.time()) is not None
    step = lambda j: checkpoint(j, new_segments=2, processed=4.0, duration=9.0, language="ru")  # noqa: E731
    store.update(job.id, step, worker="w1", segments=[_segment(0), _segment(1)])
    assert store.stage(job.id, [_segment(0)], worker="w1")

    restarted_job = store.update(job.id, restarted, worker="w1", restart=True)
    assert restarted_job is not None
    assert (restarted_job.segment_count, restarted_job.processed_seconds) == (0, 0.0)
    assert store.segments(job.id) == []
    # Nothing staged is left either: publishing now publishes nothing.
    assert store.update(job.id, lambda j: j, worker="w1", publish=True) is not None
    assert store.segments(job.id) == []
