"""Per-request temporary files (uploads, decoded PCM) in one spool directory.

Every file carries one prefix so files left behind by a crashed run are found and removed at start-up.
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path
from types import TracebackType

PREFIX = "gigaam-"


def default_spool_path() -> Path:
    return Path(tempfile.gettempdir()) / "gigaam-api-spool"


class SpoolFullError(Exception):
    """Writing more would take the spool past its total byte budget."""


class SpoolDir:
    """The directory holding per-request temporary files; created (mode 0700) if missing.

    It also keeps the books on the bytes its requests have written (`RequestFiles.charge`), so the
    total disk the server spends on uploads and decoded audio is bounded by `max_bytes`.
    """

    def __init__(self, path: Path | None = None, *, max_bytes: int | None = None) -> None:
        self.path = path if path is not None else default_spool_path()
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self._used = 0
        self._lock = threading.Lock()

    @property
    def used_bytes(self) -> int:
        """Bytes charged by requests that are still alive."""
        return self._used

    def _charge(self, nbytes: int) -> None:
        with self._lock:
            if self.max_bytes is not None and self._used + nbytes > self.max_bytes:
                raise SpoolFullError
            self._used += nbytes

    def _refund(self, nbytes: int) -> None:
        with self._lock:
            self._used -= nbytes

    def cleanup_stale(self) -> int:
        """Remove every file with our prefix (leftovers of earlier runs); returns how many were removed."""
        removed = 0
        for stale in self.path.glob(f"{PREFIX}*"):
            if stale.is_file():
                stale.unlink(missing_ok=True)
                removed += 1
        return removed

    def new_file(self, suffix: str = "") -> Path:
        """A new, empty file with a unique name, readable only by us (mkstemp creates it with mode 0600)."""
        fd, name = tempfile.mkstemp(prefix=PREFIX, suffix=suffix, dir=self.path)
        os.close(fd)
        return Path(name)

    def files(self) -> RequestFiles:
        """The files of one request: `with spool_dir.files() as files: path = files.new(".upload")`."""
        return RequestFiles(self)


class RequestFiles:
    """Tracks the files created for one request and removes them all on exit, whatever the outcome."""

    def __init__(self, spool_dir: SpoolDir) -> None:
        self._spool_dir = spool_dir
        self._paths: list[Path] = []
        self._charged = 0

    @property
    def charged_bytes(self) -> int:
        return self._charged

    def charge(self, nbytes: int) -> None:
        """Account for `nbytes` about to be written; `SpoolFullError` if the spool's budget would pass.

        Thread-safe; everything charged is refunded by `remove_all`.
        """
        self._spool_dir._charge(nbytes)
        self._charged += nbytes

    def new(self, suffix: str = "") -> Path:
        path = self._spool_dir.new_file(suffix)
        self._paths.append(path)
        return path

    def remove_all(self) -> None:
        """Idempotent: files already gone are ignored."""
        while self._paths:
            self._paths.pop().unlink(missing_ok=True)
        charged, self._charged = self._charged, 0
        self._spool_dir._refund(charged)

    def __enter__(self) -> RequestFiles:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.remove_all()
