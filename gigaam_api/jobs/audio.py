"""Uploaded job audio under JOBS_DIR/audio: it outlives the request and the process, within a byte budget.

Not the spool: the spool is per instance and emptied at start, whereas a job's audio must still be
there when a restarted (or another) server resumes the job. With Redis, JOBS_DIR is a volume every
replica mounts, so any replica can run any job.

The budget counts what is on disk plus what downloads in progress here have reserved and not yet
written, so concurrent `url=` downloads cannot pass it together.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from gigaam_api.errors import APIError, busy

AUDIO_SUFFIX, PARTIAL_SUFFIX = ".audio", ".partial"
REFERENCE_SUFFIX = ".ref"  # + the index: a known speaker's reference clip, kept with the job's audio


def jobs_storage_full() -> APIError:
    message = "The server's storage for job audio is full (JOBS_MAX_MB). Retry once older jobs have expired."
    return busy(message, "jobs_storage_full", retry_after=60)


class JobAudio:
    def __init__(self, root: Path, max_bytes: int) -> None:
        self.dir = root / "audio"
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._root = root
        self._max_bytes = max_bytes
        self._lock = threading.Lock()  # budget check and move (or reservation) are one step per process
        self._reserved: dict[Path, int] = {}  # downloads in progress: their file and the bytes reserved

    def path(self, job_id: str) -> Path:
        return self.dir / f"{job_id}{AUDIO_SUFFIX}"

    def reference_paths(self, job_id: str) -> list[Path]:
        """The job's known speakers' reference clips, in the order of their names."""
        paths: list[Path] = []
        while (path := self.dir / f"{job_id}{REFERENCE_SUFFIX}{len(paths)}").exists():
            paths.append(path)
        return paths

    def adopt(self, job_id: str, source: Path | None, references: Sequence[Path] = ()) -> int:
        """Move `source` (an upload in the spool; None: the audio is downloaded) in as the job's audio,
        and its known speakers' `references`; their size, or 503 when full."""
        moves = [] if source is None else [(source, self.path(job_id))]
        moves += [(r, self.dir / f"{job_id}{REFERENCE_SUFFIX}{i}") for i, r in enumerate(references)]
        size = sum(s.stat().st_size for s, _ in moves)
        with self._lock:
            if self._committed_bytes() + size > self._max_bytes:
                raise jobs_storage_full()
            try:
                for move in reversed(moves):  # the audio last: a job's audio is there with its clips
                    _move(*move)
            except BaseException:
                self.remove(job_id)
                raise
        return size

    @contextlib.contextmanager
    def download(self, job_id: str) -> Iterator[tuple[Path, Callable[[int], None]]]:
        """Where a download writes, and `reserve(n)`: set its reservation to `n` bytes, or 503 when that
        would pass the budget. The file becomes the job's audio if the block succeeds; it is removed and
        the reservation released in every outcome."""
        partial = self.path(job_id).with_suffix(PARTIAL_SUFFIX)

        def reserve(nbytes: int) -> None:
            with self._lock:
                self._reserved.pop(partial, None)
                if self._committed_bytes() + nbytes > self._max_bytes:
                    raise jobs_storage_full()
                self._reserved[partial] = nbytes

        try:
            yield partial, reserve
            os.replace(partial, self.path(job_id))
        finally:
            with self._lock:
                self._reserved.pop(partial, None)
            partial.unlink(missing_ok=True)

    def remove(self, job_id: str) -> None:
        for path in (
            *self.reference_paths(job_id),
            self.path(job_id),
            self.path(job_id).with_suffix(PARTIAL_SUFFIX),
        ):
            path.unlink(missing_ok=True)

    def sweep_leftovers(self, is_job: Callable[[str], bool], *, older_than: float) -> int:
        """Remove files last written before `older_than` (epoch seconds) that no job owns: downloads of a
        killed process (`.partial`) and audio whose job the store no longer has (its data was lost).
        Files written since are left alone: their job may be being submitted right now. How many went."""
        removed = 0
        for entry in os.scandir(self.dir):
            name, suffix = os.path.splitext(entry.name)
            with contextlib.suppress(FileNotFoundError):
                if entry.stat().st_mtime >= older_than:
                    continue
                with self._lock:
                    if Path(entry.path) in self._reserved:
                        continue
                owned = suffix == AUDIO_SUFFIX or suffix.startswith(REFERENCE_SUFFIX)
                if suffix == PARTIAL_SUFFIX or (owned and not is_job(name)):
                    os.unlink(entry.path)
                    removed += 1
        return removed

    def used_bytes(self) -> int:
        """Bytes under JOBS_DIR: job audio, and the SQLite store when it is the embedded one."""
        total = 0
        for directory, _, names in os.walk(self._root):
            for name in names:
                with contextlib.suppress(FileNotFoundError):  # removed meanwhile by a sweeper
                    total += os.stat(os.path.join(directory, name)).st_size
        return total

    def _committed_bytes(self) -> int:
        """On disk, plus what this process's downloads have reserved beyond what they wrote so far."""
        total = self.used_bytes()
        for partial, nbytes in self._reserved.items():
            written = 0
            with contextlib.suppress(FileNotFoundError):
                written = partial.stat().st_size
            total += max(0, nbytes - written)
        return total


def _move(source: Path, target: Path) -> None:
    try:
        os.replace(source, target)  # the spool's file is removed with its request anyway
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        partial = target.with_suffix(PARTIAL_SUFFIX)  # the spool is on another file system (tmpfs)
        try:
            shutil.copyfile(source, partial)
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)  # a failed copy (a full disk) leaves nothing
