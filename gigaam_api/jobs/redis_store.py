"""The shared job store: Redis holds the queue, the leases, the jobs and their segments.

The queue is Redis's reliable-queue pattern: a claim moves a job id from `queue` to `running` and sets
`lease:<id>` with a TTL in one Lua script (atomic on the server), and the worker keeps extending the
TTL. A replica that dies stops extending it; the next claim by any replica (same script) finds the
lapsed lease, puts the job back at the head of the queue and takes it over from its stored segments.
Leases expire on Redis's clock, so replicas' clocks need not agree. Job updates are optimistic
transactions (WATCH on the job and its lease), so a cancel and a worker's checkpoint never overwrite
each other. A job's request options have their own key (`fields:<id>`), so listings never read them, and its
translated texts theirs (`translations:<id>`). The
audio is not here: it lives on the JOBS_DIR volume that every replica mounts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from gigaam_api.jobs.model import (
    JOB_STATUSES,
    Job,
    JobStatus,
    claimed,
    dump_job,
    dump_options,
    dump_segment,
    load_job,
    load_options,
    load_segment,
    without_options,
)
from gigaam_api.jobs.store import Change, TranslatedTexts, check_segment_start
from gigaam_api.transcript import Segment

PREFIX = "gigaam:jobs:"

# KEYS: queue, running. ARGV: lease key prefix, worker, lease in ms. Lapsed leases first: their jobs
# go back to the head of the queue (they are older than anything queued), then the head is claimed.
_CLAIM = """
local running = redis.call('LRANGE', KEYS[2], 0, -1)
for i = #running, 1, -1 do
  local id = running[i]
  if redis.call('EXISTS', ARGV[1] .. id) == 0 then
    redis.call('LREM', KEYS[2], 0, id)
    redis.call('LPUSH', KEYS[1], id)
  end
end
local id = redis.call('LMOVE', KEYS[1], KEYS[2], 'LEFT', 'RIGHT')
if not id then return false end
redis.call('SET', ARGV[1] .. id, ARGV[2], 'PX', ARGV[3])
return id
"""

# KEYS: the lease. ARGV: worker, lease in ms.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""


class RedisJobStore:
    kind = "redis"
    outage_errors: tuple[type[Exception], ...] = (redis.RedisError,)

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._claim = client.register_script(_CLAIM)
        self._renew = client.register_script(_RENEW)

    @classmethod
    def connect(cls, url: str, *, timeout: float = 5) -> RedisJobStore:
        """`timeout` bounds each socket operation, so a thread blocked on a hung Redis comes back; one
        retry on a fresh connection (a restarted Redis leaves the pooled ones broken), no backoff."""
        client = redis.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            health_check_interval=30,
            retry=Retry(NoBackoff(), 1),
        )
        client.ping()  # a wrong URL stops the start with one clear message
        return cls(client)

    def ping(self) -> None:
        self._redis.ping()

    @staticmethod
    def _key(*parts: str) -> str:
        return PREFIX + ":".join(parts)

    def _write(self, pipe: Any, old: Job | None, new: Job) -> None:
        k = self._key
        options = dump_options(new)
        if options is not None:  # a new job, or an older version's in-record form moved out
            pipe.set(k("fields", new.id), options)
        pipe.set(k("job", new.id), dump_job(without_options(new)))
        pipe.zadd(k("owner", new.owner), {new.id: new.seq})
        if old is None or old.status != new.status:
            if old is not None:
                pipe.srem(k("status", old.status), new.id)
            pipe.sadd(k("status", new.status), new.id)
        dues = (("webhooks", new.webhook_due), ("sweep", new.sweep_at), ("translating", new.translation_due))
        for index, due in dues:
            if due is None:
                pipe.zrem(k(index), new.id)
            else:
                pipe.zadd(k(index), {new.id: due})
        if new.status != "running":
            pipe.delete(k("lease", new.id))
            pipe.lrem(k("running"), 0, new.id)
        if new.status == "queued" and old is not None and old.status != "queued":
            pipe.lpush(k("queue"), new.id)
        if new.terminal:
            pipe.lrem(k("queue"), 0, new.id)

    def add(self, job: Job) -> Job:
        job = dataclasses.replace(job, seq=int(self._redis.incr(self._key("seq"))))
        with self._redis.pipeline() as pipe:
            self._write(pipe, None, job)
            pipe.rpush(self._key("queue"), job.id)
            pipe.execute()
        return job

    def get(self, job_id: str) -> Job | None:
        raw, fields = self._redis.mget([self._key("job", job_id), self._key("fields", job_id)])
        if raw is None:
            return None
        job = load_job(raw)
        return dataclasses.replace(job, options=load_options(fields)) if fields is not None else job

    def exists(self, job_id: str) -> bool:
        return bool(self._redis.exists(self._key("job", job_id)))

    def page(self, owner: str, *, status: JobStatus | None, before_seq: int | None, limit: int) -> list[Job]:
        top: str | int = "+inf" if before_seq is None else f"({before_seq}"
        jobs: list[Job] = []
        offset, step = 0, max(limit, 50)
        while len(jobs) < limit:
            ids = self._redis.zrevrangebyscore(self._key("owner", owner), top, "-inf", start=offset, num=step)
            if not ids:
                break
            offset += len(ids)
            raws = self._redis.mget([self._key("job", _text(i)) for i in ids])
            found = [load_job(r) for r in raws if r is not None]
            jobs.extend(j for j in found if status is None or j.status == status)
        return jobs[:limit]

    def claim(self, worker: str, lease_seconds: float, now: float) -> Job | None:
        k = self._key
        while True:
            raw_id = self._claim(
                keys=[k("queue"), k("running")], args=[k("lease", ""), worker, _ms(lease_seconds)]
            )
            if raw_id is None:
                return None
            job_id = _text(raw_id)
            job = self.update(job_id, lambda j: None if j.terminal else claimed(j, now), worker=worker)
            if job is not None:
                fields = self._redis.get(k("fields", job_id))
                return dataclasses.replace(job, options=load_options(fields)) if fields is not None else job
            current = self.get(job_id)
            if current is None or current.terminal:  # ended or deleted while queued: drop it, try the next
                with self._redis.pipeline() as pipe:
                    pipe.delete(k("lease", job_id))
                    pipe.lrem(k("running"), 0, job_id)
                    pipe.execute()
            # Otherwise the lease lapsed before the claim was written (a stall longer than the lease):
            # the job stays in `running` without a lease, and the next pass puts it back at the head.

    def renew(self, job_id: str, worker: str, lease_seconds: float, now: float) -> bool:
        return bool(self._renew(keys=[self._key("lease", job_id)], args=[worker, _ms(lease_seconds)]))

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
        job_key, lease_key = self._key("job", job_id), self._key("lease", job_id)
        segments_key, staged_key = self._key("segments", job_id), self._key("staged", job_id)

        def apply(pipe: Any) -> Job | None:
            raw = pipe.get(job_key)
            if raw is None or (worker is not None and pipe.get(lease_key) != worker.encode()):
                return None
            staged = publish and bool(pipe.exists(staged_key))  # only the lease holder writes it
            old = load_job(raw)
            new = change(old)
            if new is None:
                return None
            pipe.multi()
            self._write(pipe, old, new)
            if restart:
                pipe.delete(segments_key, staged_key)
            if publish:
                pipe.delete(segments_key)
                if staged:
                    pipe.rename(staged_key, segments_key)
            if segments:
                pipe.rpush(segments_key, *(dump_segment(s) for s in segments))
            if translated is not None and translated.texts:
                texts = {f"{translated.target}:{i}": t for i, t in translated.texts.items()}
                pipe.hset(self._key("translations", job_id), mapping=texts)
            return new

        result = self._redis.transaction(apply, job_key, lease_key, value_from_callable=True)  # type: ignore[arg-type]
        return result if isinstance(result, Job) else None

    def stage(self, job_id: str, segments: Sequence[Segment], *, worker: str) -> bool:
        lease_key = self._key("lease", job_id)

        def apply(pipe: Any) -> bool:
            if pipe.get(lease_key) != worker.encode():
                return False
            pipe.multi()
            if segments:
                pipe.rpush(self._key("staged", job_id), *(dump_segment(s) for s in segments))
            return True

        return bool(self._redis.transaction(apply, lease_key, value_from_callable=True))  # type: ignore[arg-type]

    def segments(self, job_id: str, start: int = 0, limit: int | None = None) -> list[Segment]:
        check_segment_start(start)  # LRANGE counts a negative start from the end
        end = -1 if limit is None else start + limit - 1
        if limit is not None and limit <= 0:
            return []
        return [load_segment(r) for r in self._redis.lrange(self._key("segments", job_id), start, end)]

    def translations(self, job_id: str, target: str) -> dict[int, str]:
        """One hash per job, its fields `<target>:<segment id>`, so a delete removes every target's."""
        stored = self._redis.hgetall(self._key("translations", job_id))
        prefix = f"{target}:"
        found = ((_text(field), _text(text)) for field, text in stored.items())
        return {int(field.removeprefix(prefix)): text for field, text in found if field.startswith(prefix)}

    def due_translations(self, now: float) -> list[str]:
        return [_text(i) for i in self._redis.zrangebyscore(self._key("translating"), "-inf", now)]

    def due_webhooks(self, now: float) -> list[str]:
        return [_text(i) for i in self._redis.zrangebyscore(self._key("webhooks"), "-inf", now)]

    def due_sweeps(self, now: float) -> list[str]:
        return [_text(i) for i in self._redis.zrangebyscore(self._key("sweep"), "-inf", now)]

    def delete(self, job_id: str) -> None:
        k = self._key
        job = self.get(job_id)
        with self._redis.pipeline() as pipe:
            pipe.delete(
                k("job", job_id),
                k("fields", job_id),
                k("segments", job_id),
                k("staged", job_id),
                k("lease", job_id),
                k("translations", job_id),
            )
            if job is not None:
                pipe.zrem(k("owner", job.owner), job_id)
                pipe.srem(k("status", job.status), job_id)
            pipe.zrem(k("webhooks"), job_id)
            pipe.zrem(k("sweep"), job_id)
            pipe.zrem(k("translating"), job_id)
            pipe.lrem(k("queue"), 0, job_id)
            pipe.lrem(k("running"), 0, job_id)
            pipe.execute()

    def counts(self) -> dict[JobStatus, int]:
        with self._redis.pipeline() as pipe:
            for status in JOB_STATUSES:
                pipe.scard(self._key("status", status))
            sizes = pipe.execute()
        return {s: int(n) for s, n in zip(JOB_STATUSES, sizes, strict=True)}

    def close(self) -> None:
        self._redis.close()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))
