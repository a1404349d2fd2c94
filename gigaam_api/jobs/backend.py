"""The configured job store: Redis when JOBS_REDIS_URL is set, else SQLite under JOBS_DIR.

Apart from `store.py`, so the protocol module imports neither backend and neither backend imports this.
"""

from __future__ import annotations

from gigaam_api.config import Settings
from gigaam_api.jobs.store import JobStore, JobStoreUnavailableError


def open_store(settings: Settings) -> JobStore:
    if settings.JOBS_REDIS_URL:
        import redis

        from gigaam_api.jobs.redis_store import RedisJobStore

        try:
            return RedisJobStore.connect(settings.JOBS_REDIS_URL, timeout=settings.JOBS_STORE_TIMEOUT_SECONDS)
        except (redis.RedisError, ValueError) as exc:  # the URL itself is not printed: it may hold a password
            raise JobStoreUnavailableError(f"JOBS_REDIS_URL: Redis cannot be used ({exc})") from None
    import sqlite3

    from gigaam_api.jobs.sqlite_store import SqliteJobStore

    try:
        settings.JOBS_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
        return SqliteJobStore(settings.JOBS_DIR / "jobs.sqlite3")
    except (OSError, sqlite3.Error) as exc:
        raise JobStoreUnavailableError(
            f"JOBS_DIR={settings.JOBS_DIR}: the job store cannot be opened ({exc})"
        ) from None
