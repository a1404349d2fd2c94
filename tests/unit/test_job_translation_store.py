"""A job's translation in each job store (a SQLite file, a real redis-server) and its pure state changes."""

from __future__ import annotations

import sqlite3
import time
from functools import partial
from pathlib import Path

from gigaam_api.jobs import translation_state as ts
from gigaam_api.jobs.model import Expiry, Job, JobError, Translation, Webhook, ended, new_job_id
from gigaam_api.jobs.sqlite_store import SqliteJobStore
from gigaam_api.jobs.store import JobStore, TranslatedTexts
from gigaam_api.transcript import Segment

EXPIRY = Expiry(3600, 3600)
LEASE = 30.0


def _job(**kwargs: object) -> Job:
    return Job(new_job_id(), "", time.time(), 1, translation=Translation("en"), **kwargs)  # type: ignore[arg-type]


def _transcribed(store: JobStore, now: float) -> Job:
    """A translate job whose transcript (two segments) has succeeded: its translation is due."""
    job = store.add(_job())
    claimed = store.claim("w", LEASE, now)
    assert claimed is not None and claimed.id == job.id
    segments = [Segment(i, float(i), i + 1.0, f"text {i}") for i in range(2)]

    def success(j: Job) -> Job | None:
        return ended(j, "succeeded", now, EXPIRY)

    done = store.update(job.id, success, worker="w", segments=segments)
    assert done is not None
    return done


def test_a_due_translation_is_claimed_once_and_its_texts_are_stored_by_target(store: JobStore) -> None:
    now = time.time()
    job = _transcribed(store, now)
    assert store.due_translations(now) == [job.id]
    claim = partial(ts.claimed, worker="t1", now=now, lease_seconds=LEASE)
    assert store.update(job.id, claim) is not None
    assert store.due_translations(now) == []  # its lease runs
    assert store.update(job.id, partial(ts.claimed, worker="t2", now=now, lease_seconds=LEASE)) is None
    stored = partial(ts.renewed, worker="t1", target="en", now=now, lease_seconds=LEASE, translated=1)
    after = store.update(job.id, stored, translated=TranslatedTexts("en", {0: "TEXT 0"}))
    assert after is not None and after.translation is not None and after.translation.translated == 1
    assert store.translations(job.id, "en") == {0: "TEXT 0"}
    assert store.translations(job.id, "de") == {}
    # A runner that lost its claim stores nothing.
    lost = partial(ts.renewed, worker="t2", target="en", now=now, lease_seconds=LEASE, translated=2)
    assert store.update(job.id, lost, translated=TranslatedTexts("en", {1: "LOST"})) is None
    assert store.translations(job.id, "en") == {0: "TEXT 0"}
    # Its lease lapsed (a killed server): due again, for whoever claims it next.
    assert store.due_translations(now + LEASE + 1) == [job.id]


def test_delete_removes_the_translation_and_its_texts(store: JobStore) -> None:
    now = time.time()
    job = _transcribed(store, now)
    store.update(job.id, partial(ts.claimed, worker="t", now=now, lease_seconds=LEASE))
    stored = partial(ts.renewed, worker="t", target="en", now=now, lease_seconds=LEASE, translated=2)
    store.update(job.id, stored, translated=TranslatedTexts("en", {0: "A", 1: "B"}))
    assert store.due_sweeps(now + EXPIRY.result_seconds + 1) == [job.id]  # expires as any job does
    store.delete(job.id)
    assert store.translations(job.id, "en") == {}
    assert store.due_translations(now + LEASE + 1) == []
    assert store.get(job.id) is None


def test_a_store_file_from_before_translations_is_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE jobs (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, "
        "owner TEXT NOT NULL, status TEXT NOT NULL, worker TEXT, lease_until REAL, webhook_due REAL, "
        "sweep_at REAL, data TEXT NOT NULL)"
    )
    db.close()
    store = SqliteJobStore(path)
    try:
        now = time.time()
        job = _transcribed(store, now)
        assert store.due_translations(now) == [job.id]
    finally:
        store.close()


def test_the_webhook_waits_for_the_translation_and_a_failed_transcript_has_none() -> None:
    now = time.time()
    job = _job(webhook=Webhook("http://hook"))
    done = ended(job, "succeeded", now, EXPIRY)
    assert done is not None and done.webhook is not None and done.webhook.state == "waiting"
    assert done.translation_due == now
    running = ts.claimed(done, "t", now, LEASE)
    assert running is not None
    failed = ts.finished(running, "t", "en", now, JobError("down", "translation_unavailable"))
    assert failed is not None and failed.webhook is not None and failed.webhook.state == "pending"
    assert failed.translation is not None and failed.translation.status == "failed"
    assert failed.translation_due is None

    lost = ended(job, "failed", now, EXPIRY, JobError("broken"))
    assert lost is not None and lost.translation is not None and lost.translation.status == "failed"
    assert lost.translation_due is None and lost.webhook is not None and lost.webhook.state == "pending"


def test_a_retry_keeps_the_count_of_its_language_and_is_refused_while_under_way() -> None:
    now = time.time()
    done = ended(_job(), "succeeded", now, EXPIRY)
    assert done is not None
    running = ts.claimed(done, "t", now, LEASE)
    assert running is not None
    assert ts.requested(running, "en", now) is None  # already under way
    stored = ts.renewed(running, "t", "en", now, LEASE, translated=1)
    assert stored is not None
    failed = ts.finished(stored, "t", "en", now, JobError("down"))
    assert failed is not None
    again = ts.requested(failed, "en", now)
    assert again is not None and again.translation == Translation("en", translated=1, due_at=now)
    german = ts.requested(failed, "de", now)
    assert german is not None and german.translation == Translation("de", due_at=now)
    # The runner of the replaced translation changes nothing any more.
    assert ts.finished(german, "t", "en", now) is None
    assert ts.requested(_job(), "en", now) is None  # no transcript yet
