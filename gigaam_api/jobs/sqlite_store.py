"""The embedded job store: one SQLite file (WAL) with the jobs, their segments and translations.

A job row keeps the job as JSON plus the columns the queries need (its request options, whose prompt
may be MAX_FORM_FIELDS_BYTES, sit in their own table `job_fields`: listings never read them);
`worker`/`lease_until` make the lease, so a server killed mid-job has its job taken over once the lease
runs out (by itself after a restart, or by another process on the same file).
"""

from __future__ import annotations

import dataclasses
import errno
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

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

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    owner TEXT NOT NULL,
    status TEXT NOT NULL,
    worker TEXT,
    lease_until REAL,
    webhook_due REAL,
    sweep_at REAL,
    translation_due REAL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_owner ON jobs (owner, seq);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, seq);
CREATE TABLE IF NOT EXISTS job_fields (
    job_id TEXT PRIMARY KEY,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS segments (
    job_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (job_id, idx)
);
CREATE TABLE IF NOT EXISTS translations (
    job_id TEXT NOT NULL,
    target TEXT NOT NULL,
    segment_id INTEGER NOT NULL,
    text TEXT NOT NULL,
    PRIMARY KEY (job_id, target, segment_id)
);
CREATE TABLE IF NOT EXISTS staged_segments (
    job_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (job_id, idx)
);
"""


def _disk_full(exc: BaseException) -> bool:
    """SQLITE_FULL: raised as the ENOSPC it is, so callers treat a full disk the same wherever it happens."""
    return isinstance(exc, sqlite3.OperationalError) and exc.sqlite_errorcode == sqlite3.SQLITE_FULL


class SqliteJobStore:
    kind = "sqlite"
    # Locked past the busy timeout, disk full, I/O errors.
    outage_errors: tuple[type[Exception], ...] = (sqlite3.OperationalError,)

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._lock = threading.Lock()  # one connection, shared by threads: one statement group at a time
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")  # WAL: a power cut may lose the last commits only
            self._db.executescript(_SCHEMA)
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(jobs)")}
            if "translation_due" not in columns:  # a file written before translations
                self._db.execute("ALTER TABLE jobs ADD COLUMN translation_due REAL")

    def ping(self) -> None:
        with self._lock:
            self._db.execute("SELECT 1").fetchone()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """One write transaction under the lock: committed, or rolled back on any error (a full disk
        raised as ENOSPC, which the API answers as `disk_full`)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
                self._db.execute("COMMIT")
            except BaseException as exc:
                if self._db.in_transaction:  # after some errors (a full disk) SQLite has rolled back already
                    self._db.execute("ROLLBACK")
                if _disk_full(exc):
                    raise OSError(errno.ENOSPC, "the job store's disk is full") from exc
                raise

    def _write(self, job: Job, worker: str | None, lease_until: float | None) -> None:
        options = dump_options(job)
        if options is not None:  # a new job, or an older version's in-record form moved out
            self._db.execute(
                "INSERT OR REPLACE INTO job_fields (job_id, data) VALUES (?, ?)", (job.id, options.decode())
            )
        data = dump_job(without_options(job)).decode()
        self._db.execute(
            "UPDATE jobs SET status=?, worker=?, lease_until=?, webhook_due=?, sweep_at=?, "
            "translation_due=?, data=? WHERE id=?",
            (
                job.status,
                worker,
                lease_until,
                job.webhook_due,
                job.sweep_at,
                job.translation_due,
                data,
                job.id,
            ),
        )

    def _with_options(self, job: Job) -> Job:
        row = self._db.execute("SELECT data FROM job_fields WHERE job_id=?", (job.id,)).fetchone()
        return dataclasses.replace(job, options=load_options(row[0])) if row else job

    def add(self, job: Job) -> Job:
        with self._transaction():
            cursor = self._db.execute(
                "INSERT INTO jobs (id, owner, status, data) VALUES (?, ?, ?, '')",
                (job.id, job.owner, job.status),
            )
            assert cursor.lastrowid is not None
            job = dataclasses.replace(job, seq=cursor.lastrowid)
            self._write(job, None, None)
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            row = self._db.execute("SELECT data FROM jobs WHERE id=?", (job_id,)).fetchone()
            return self._with_options(load_job(row[0])) if row else None

    def exists(self, job_id: str) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM jobs WHERE id=?", (job_id,)).fetchone() is not None

    def page(self, owner: str, *, status: JobStatus | None, before_seq: int | None, limit: int) -> list[Job]:
        query = "SELECT data FROM jobs WHERE owner=? AND seq<?"
        params: list[object] = [owner, before_seq if before_seq is not None else 2**62]
        if status is not None:
            query += " AND status=?"
            params.append(status)
        query += " ORDER BY seq DESC LIMIT ?"
        params.append(limit)
        with self._lock:
            rows = self._db.execute(query, params).fetchall()
        return [load_job(r[0]) for r in rows]

    def claim(self, worker: str, lease_seconds: float, now: float) -> Job | None:
        with self._transaction():
            row = self._db.execute(
                "SELECT data FROM jobs WHERE status='queued' OR (status='running' AND lease_until<?) "
                "ORDER BY seq LIMIT 1",
                (now,),
            ).fetchone()
            job = None
            if row is not None:
                job = claimed(load_job(row[0]), now)
                self._write(job, worker, now + lease_seconds)
                job = self._with_options(job)
        return job

    def renew(self, job_id: str, worker: str, lease_seconds: float, now: float) -> bool:
        with self._lock:
            cursor = self._db.execute(
                "UPDATE jobs SET lease_until=? WHERE id=? AND worker=? AND status='running'",
                (now + lease_seconds, job_id, worker),
            )
        return cursor.rowcount == 1

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
        with self._transaction():
            row = self._db.execute(
                "SELECT data, worker, lease_until FROM jobs WHERE id=?", (job_id,)
            ).fetchone()
            job = None
            if row is not None and (worker is None or row[1] == worker):
                job = change(load_job(row[0]))
            if job is not None:
                keep = job.status == "running"
                self._write(job, row[1] if keep else None, row[2] if keep else None)
                if restart or publish:
                    self._db.execute("DELETE FROM segments WHERE job_id=?", (job_id,))
                if publish:  # a copy inside the database: no segment passes through memory
                    self._db.execute(
                        "INSERT INTO segments SELECT * FROM staged_segments WHERE job_id=?", (job_id,)
                    )
                if restart or publish:
                    self._db.execute("DELETE FROM staged_segments WHERE job_id=?", (job_id,))
                first = job.segment_count - len(segments)
                self._db.executemany(
                    "INSERT INTO segments (job_id, idx, data) VALUES (?, ?, ?)",
                    [(job_id, first + i, dump_segment(s).decode()) for i, s in enumerate(segments)],
                )
                if translated is not None:
                    self._db.executemany(
                        "INSERT OR REPLACE INTO translations (job_id, target, segment_id, text) "
                        "VALUES (?, ?, ?, ?)",
                        [(job_id, translated.target, i, t) for i, t in translated.texts.items()],
                    )
        return job

    def stage(self, job_id: str, segments: Sequence[Segment], *, worker: str) -> bool:
        with self._transaction():
            row = self._db.execute(
                "SELECT 1 FROM jobs WHERE id=? AND worker=? AND status='running'", (job_id, worker)
            ).fetchone()
            if row is not None:
                (first,) = self._db.execute(
                    "SELECT COUNT(*) FROM staged_segments WHERE job_id=?", (job_id,)
                ).fetchone()
                self._db.executemany(
                    "INSERT INTO staged_segments (job_id, idx, data) VALUES (?, ?, ?)",
                    [(job_id, first + i, dump_segment(s).decode()) for i, s in enumerate(segments)],
                )
        return row is not None

    def segments(self, job_id: str, start: int = 0, limit: int | None = None) -> list[Segment]:
        check_segment_start(start)
        with self._lock:
            rows = self._db.execute(
                "SELECT data FROM segments WHERE job_id=? AND idx>=? ORDER BY idx LIMIT ?",
                (job_id, start, -1 if limit is None else limit),
            ).fetchall()
        return [load_segment(r[0]) for r in rows]

    def translations(self, job_id: str, target: str) -> dict[int, str]:
        with self._lock:
            rows = self._db.execute(
                "SELECT segment_id, text FROM translations WHERE job_id=? AND target=?", (job_id, target)
            ).fetchall()
        return {int(r[0]): r[1] for r in rows}

    def due_translations(self, now: float) -> list[str]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id FROM jobs WHERE translation_due<=? ORDER BY translation_due", (now,)
            )
            return [r[0] for r in rows.fetchall()]

    def due_webhooks(self, now: float) -> list[str]:
        with self._lock:
            rows = self._db.execute("SELECT id FROM jobs WHERE webhook_due<=? ORDER BY webhook_due", (now,))
            return [r[0] for r in rows.fetchall()]

    def due_sweeps(self, now: float) -> list[str]:
        with self._lock:
            rows = self._db.execute("SELECT id FROM jobs WHERE sweep_at<=? ORDER BY sweep_at", (now,))
            return [r[0] for r in rows.fetchall()]

    def delete(self, job_id: str) -> None:
        with self._transaction():
            self._db.execute("DELETE FROM segments WHERE job_id=?", (job_id,))
            self._db.execute("DELETE FROM translations WHERE job_id=?", (job_id,))
            self._db.execute("DELETE FROM staged_segments WHERE job_id=?", (job_id,))
            self._db.execute("DELETE FROM job_fields WHERE job_id=?", (job_id,))
            self._db.execute("DELETE FROM jobs WHERE id=?", (job_id,))

    def counts(self) -> dict[JobStatus, int]:
        with self._lock:
            rows = dict(self._db.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status").fetchall())
        return {s: int(rows.get(s, 0)) for s in JOB_STATUSES}

    def close(self) -> None:
        with self._lock:
            self._db.close()
