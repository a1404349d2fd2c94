"""Uploaded job audio under JOBS_DIR/audio: it outlives the request and the process, within a byte budget.

Not the spool: the spool is per instance and emptied at start, whereas a job's audio must still be
there when a restarted (or another) server resumes the job. With Redis, JOBS_DIR is a volume every
replica mounts, so any replica can run any job.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import threading
from pathlib import Path

from gigaam_api.errors import APIError, busy


def jobs_storage_full() -> APIError:
    message = "The server's storage for job audio is full (JOBS_MAX_MB). Retry once older jobs have expired."
    return busy(message, "jobs_storage_full", retry_after=60)


class JobAudio:
    def __init__(self, root: Path, max_bytes: int) -> None:
        self.dir = root / "audio"
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._root = root
        self._max_bytes = max_bytes
        self._lock = threading.Lock()  # budget check and move are one step per process

    def path(self, job_id: str) -> Path:
        return self.dir / f"{job_id}.audio"

    def adopt(self, job_id: str, source: Path) -> int:
        """Move `source` (an upload in the spool) in as the job's audio; its size, or 503 when full."""
        size = source.stat().st_size
        with self._lock:
            if self.used_bytes() + size > self._max_bytes:
                raise jobs_storage_full()
            target = self.path(job_id)
            try:
                os.replace(source, target)  # the spool's file is removed with its request anyway
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise
                partial = target.with_suffix(".partial")  # the spool is on another file system (tmpfs)
                shutil.copyfile(source, partial)
                os.replace(partial, target)
        return size

    def reserve(self, job_id: str, nbytes: int) -> Path:
        """Where a download may write up to `nbytes`, or 503 when that would pass the budget."""
        with self._lock:
            if self.used_bytes() + nbytes > self._max_bytes:
                raise jobs_storage_full()
        return self.path(job_id).with_suffix(".partial")

    def remove(self, job_id: str) -> None:
        for path in (self.path(job_id), self.path(job_id).with_suffix(".partial")):
            path.unlink(missing_ok=True)

    def used_bytes(self) -> int:
        """Bytes under JOBS_DIR: job audio, and the SQLite store when it is the embedded one."""
        total = 0
        for directory, _, names in os.walk(self._root):
            for name in names:
                with contextlib.suppress(FileNotFoundError):  # removed meanwhile by a sweeper
                    total += os.stat(os.path.join(directory, name)).st_size
        return total
