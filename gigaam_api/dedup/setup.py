"""The server's `SharedRuns` from its settings."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable

from gigaam_api.config import Settings
from gigaam_api.dedup.cache import ResultCache
from gigaam_api.dedup.runs import SharedRuns
from gigaam_api.metrics import Metrics

log = logging.getLogger(__name__)


def shared_runs(settings: Settings, metrics: Metrics, *, waiting: Callable[[], int]) -> SharedRuns:
    """`waiting()`: requests in line for a running slot, for which runs nobody waits for are stopped."""
    cache = None
    if settings.CACHE_MAX_MB > 0:
        try:
            cache = ResultCache(
                settings.CACHE_DIR,
                max_bytes=settings.cache_max_bytes,
                max_age_seconds=settings.CACHE_MAX_AGE_HOURS * 3600,
            )
        except (OSError, sqlite3.Error) as exc:  # a cache is an optimisation: serve without it
            log.warning("no result cache: CACHE_DIR %s is not usable (%s)", settings.CACHE_DIR, exc)
    return SharedRuns(
        share=settings.DEDUP,
        grace_seconds=settings.DEDUP_GRACE_SECONDS,
        cache=cache,
        metrics=metrics,
        waiting=waiting,
    )
