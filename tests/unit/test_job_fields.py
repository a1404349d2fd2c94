"""A job's form fields (up to MAX_FORM_FIELDS_BYTES each job) are stored apart: listings never read them,
in either store, while `get` and `claim` return them whole."""

from __future__ import annotations

import dataclasses
import time
import tracemalloc

from gigaam_api.jobs.model import Job, dump_job, new_job_id
from gigaam_api.jobs.redis_store import PREFIX, RedisJobStore
from gigaam_api.jobs.sqlite_store import SqliteJobStore
from gigaam_api.jobs.store import JobStore

PROMPT = "п" * (512 * 1024)  # 1 MiB of UTF-8: MAX_FORM_FIELDS_BYTES's default
JOBS = 20


def _peak_bytes_of_a_listing(store: JobStore) -> tuple[list[Job], int]:
    tracemalloc.start()
    try:
        page = store.page("alice", status=None, before_seq=None, limit=100)
        return page, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_listing_does_not_load_the_fields(store: JobStore) -> None:
    fields = (("prompt", PROMPT), ("language", "ru"))
    added = [store.add(Job(new_job_id(), "alice", time.time(), fields, 1000)) for _ in range(JOBS)]
    page, peak = _peak_bytes_of_a_listing(store)
    assert [j.id for j in page] == [j.id for j in reversed(added)]
    assert peak < 2 * 2**20, f"a listing of {JOBS} jobs allocated {peak / 2**20:.1f} MiB"
    assert all(j.fields == () for j in page)
    stored = store.get(added[0].id)
    assert stored is not None and stored.fields == fields
    claimed = store.claim("w1", 30.0, time.time())
    assert claimed is not None and claimed.id == added[0].id and claimed.fields == fields
    assert store.exists(added[0].id)
    store.delete(added[0].id)
    assert store.get(added[0].id) is None and not store.exists(added[0].id)


def test_a_job_stored_with_its_fields_inside_keeps_them(store: JobStore) -> None:
    """Jobs written by the previous version hold their fields in the record: still read, and moved out
    on their first change."""
    job = store.add(Job(new_job_id(), "alice", time.time(), (), 1000))
    old = dataclasses.replace(job, fields=(("prompt", "старый"),))
    if isinstance(store, SqliteJobStore):
        store._db.execute("UPDATE jobs SET data=? WHERE id=?", (dump_job(old).decode(), job.id))
    else:
        assert isinstance(store, RedisJobStore)
        store._redis.set(f"{PREFIX}job:{job.id}", dump_job(old))
    assert (store.get(job.id) or job).fields == old.fields
    store.update(job.id, lambda j: dataclasses.replace(j, runs=5))
    moved = store.get(job.id)
    assert moved is not None and moved.fields == old.fields and moved.runs == 5
