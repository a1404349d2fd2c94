"""A job's request options are stored parsed, apart from its record: listings never read them (a prompt
may be MAX_FORM_FIELDS_BYTES), in either store, while `get` and `claim` return them whole. Jobs stored by
earlier versions, which kept the raw form (in the record, or apart), still load with the same options."""

from __future__ import annotations

import dataclasses
import json
import time
import tracemalloc

from gigaam_api.engines.base import ServerVAD
from gigaam_api.jobs.model import Job, dump_job, new_job_id
from gigaam_api.jobs.redis_store import PREFIX, RedisJobStore
from gigaam_api.jobs.sqlite_store import SqliteJobStore
from gigaam_api.jobs.store import JobStore
from gigaam_api.options.transcription import TranscriptionOptions

PROMPT = "п" * (512 * 1024)  # 1 MiB of UTF-8: MAX_FORM_FIELDS_BYTES's default
JOBS = 20
# A form as an earlier version stored it, and the options the submission parsed it to.
RAW_FORM = [
    ["prompt", "старый"],
    ["language", "ru-RU"],
    ["response_format", "verbose_json"],
    ["timestamp_granularities[]", "word"],
    ["include[]", "logprobs"],
    ["chunking_strategy[type]", "server_vad"],
]
PARSED = TranscriptionOptions(
    prompt="старый",
    language="ru",
    response_format="verbose_json",
    timestamp_granularities=frozenset({"word"}),
    include_logprobs=True,
    chunking_strategy=ServerVAD(),
)


def _peak_bytes_of_a_listing(store: JobStore) -> tuple[list[Job], int]:
    tracemalloc.start()
    try:
        page = store.page("alice", status=None, before_seq=None, limit=100)
        return page, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_listing_does_not_load_the_options(store: JobStore) -> None:
    options = TranscriptionOptions(prompt=PROMPT, language="ru", response_format="srt")
    added = [store.add(Job(new_job_id(), "alice", time.time(), 1000, options)) for _ in range(JOBS)]
    page, peak = _peak_bytes_of_a_listing(store)
    assert [j.id for j in page] == [j.id for j in reversed(added)]
    assert peak < 2 * 2**20, f"a listing of {JOBS} jobs allocated {peak / 2**20:.1f} MiB"
    assert all(j.options is None for j in page)
    stored = store.get(added[0].id)
    assert stored is not None and stored.options == options
    claimed = store.claim("w1", 30.0, time.time())
    assert claimed is not None and claimed.id == added[0].id and claimed.options == options
    assert store.exists(added[0].id)
    store.delete(added[0].id)
    assert store.get(added[0].id) is None and not store.exists(added[0].id)


def test_a_job_whose_raw_form_is_stored_apart_loads_its_options(store: JobStore) -> None:
    """The previous version kept the form's raw pairs where the options now go: parsed when read."""
    job = store.add(Job(new_job_id(), "alice", time.time(), 1000, TranscriptionOptions(language="en")))
    raw = json.dumps(RAW_FORM)
    if isinstance(store, SqliteJobStore):
        store._db.execute("UPDATE job_fields SET data=? WHERE job_id=?", (raw, job.id))
    else:
        assert isinstance(store, RedisJobStore)
        store._redis.set(f"{PREFIX}fields:{job.id}", raw)
    stored = store.get(job.id)
    assert stored is not None and stored.options == PARSED
    claimed = store.claim("w1", 30.0, time.time())
    assert claimed is not None and claimed.id == job.id and claimed.options == PARSED


def test_a_job_stored_with_its_form_inside_keeps_its_options(store: JobStore) -> None:
    """Jobs written two versions ago hold their raw form in the record: still read, and moved out as
    parsed options on their first change."""
    job = store.add(Job(new_job_id(), "alice", time.time(), 1000))
    record = json.loads(dump_job(job))
    del record["options"]
    record["fields"] = RAW_FORM
    if isinstance(store, SqliteJobStore):
        store._db.execute("UPDATE jobs SET data=? WHERE id=?", (json.dumps(record), job.id))
    else:
        assert isinstance(store, RedisJobStore)
        store._redis.set(f"{PREFIX}job:{job.id}", json.dumps(record))
    assert (store.get(job.id) or job).options == PARSED
    store.update(job.id, lambda j: dataclasses.replace(j, runs=5))
    moved = store.get(job.id)
    assert moved is not None and moved.options == PARSED and moved.runs == 5


def test_options_left_at_their_defaults_read_back_as_none(store: JobStore) -> None:
    """Nothing is stored for them (as for a form without options before): readers take the defaults."""
    job = store.add(Job(new_job_id(), "alice", time.time(), 1000, TranscriptionOptions()))
    stored = store.get(job.id)
    assert stored is not None and stored.options is None
    assert all(j.options is None for j in store.page("alice", status=None, before_seq=None, limit=10))


def test_keywords_languages_and_server_vad_survive_the_store(store: JobStore) -> None:
    options = TranscriptionOptions(
        keywords=("Сбербанк", "греф"),
        keyword_boost=2.5,
        languages=("ru", "en"),
        chunking_strategy=ServerVAD(silence_duration_ms=200, prefix_padding_ms=0, threshold=0.4),
    )
    job = store.add(Job(new_job_id(), "alice", time.time(), 1000, options))
    stored = store.get(job.id)
    assert stored is not None and stored.options == options
