"""The result cache: finished transcripts on disk, bounded in bytes (LRU) and in age.

One SQLite database in CACHE_DIR holds the entries: every write is a transaction (atomic, crash-safe),
SQLite's file locks make it safe for several threads and server processes at once, and it survives
restarts. Each call opens its own connection, so a call may run in any thread (`asyncio.to_thread`).
`max_bytes` counts the stored (compressed) entries; `auto_vacuum` gives freed pages back to the disk.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

DATABASE = "results.sqlite3"
BUSY_TIMEOUT_SECONDS = 10.0  # another process's write in progress: wait this long for its lock
_SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL,
    size INTEGER NOT NULL,
    created REAL NOT NULL,
    used REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS results_used ON results (used);
CREATE INDEX IF NOT EXISTS results_created ON results (created);
"""


class ResultCache:
    def __init__(
        self,
        directory: Path,
        *,
        max_bytes: int,
        max_age_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.path = directory / DATABASE
        self.max_bytes = max_bytes
        self.max_age_seconds = max_age_seconds
        self._clock = clock
        with closing(self._connect()) as db:
            db.execute("PRAGMA auto_vacuum = FULL")  # takes effect on a new database only
            db.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_SECONDS)

    def get(self, key: str) -> bytes | None:
        """The entry's bytes, marked as just used; None if absent or older than the age limit."""
        now = self._clock()
        with closing(self._connect()) as db, db:
            row = db.execute("SELECT value, created FROM results WHERE key = ?", (key,)).fetchone()
            if row is None:
                return None
            value, created = row
            if created < now - self.max_age_seconds:
                db.execute("DELETE FROM results WHERE key = ?", (key,))
                return None
            db.execute("UPDATE results SET used = ? WHERE key = ?", (now, key))
            return bytes(value)

    def put(self, key: str, value: bytes) -> None:
        """Store (or replace) an entry, then evict expired and least recently used ones over the limit."""
        if len(value) > self.max_bytes:
            return
        now = self._clock()
        with closing(self._connect()) as db, db:
            db.execute(
                "INSERT OR REPLACE INTO results (key, value, size, created, used) VALUES (?, ?, ?, ?, ?)",
                (key, value, len(value), now, now),
            )
            self._evict(db, now)

    def discard(self, key: str) -> None:
        with closing(self._connect()) as db, db:
            db.execute("DELETE FROM results WHERE key = ?", (key,))

    def _evict(self, db: sqlite3.Connection, now: float) -> None:
        db.execute("DELETE FROM results WHERE created < ?", (now - self.max_age_seconds,))
        (total,) = db.execute("SELECT COALESCE(SUM(size), 0) FROM results").fetchone()
        excess = total - self.max_bytes
        if excess <= 0:
            return
        victims: list[tuple[str]] = []
        for key, size in db.execute("SELECT key, size FROM results ORDER BY used, created").fetchall():
            victims.append((key,))
            excess -= size
            if excess <= 0:
                break
        db.executemany("DELETE FROM results WHERE key = ?", victims)

    def keys(self) -> set[str]:
        """Every stored key (for tests and operators)."""
        with closing(self._connect()) as db:
            return {key for (key,) in db.execute("SELECT key FROM results")}

    def stored_bytes(self) -> int:
        with closing(self._connect()) as db:
            (total,) = db.execute("SELECT COALESCE(SUM(size), 0) FROM results").fetchone()
            return int(total)
