"""Fixtures shared by the unit tests of the job stores."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from gigaam_api.jobs.redis_store import RedisJobStore
from gigaam_api.jobs.sqlite_store import SqliteJobStore
from gigaam_api.jobs.store import JobStore


@pytest.fixture(params=["sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JobStore]:
    """Each job store in turn: a SQLite file, and an empty database of the tests' real redis-server."""
    opened: JobStore
    if request.param == "sqlite":
        opened = SqliteJobStore(tmp_path / "jobs.sqlite3")
    else:
        url: str = request.getfixturevalue("redis_url")
        redis.Redis.from_url(url).flushdb()
        opened = RedisJobStore.connect(url)
    yield opened
    opened.close()
