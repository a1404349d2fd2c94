"""Per-request temporary files (uploads, decoded PCM) in one spool directory.

Every file carries one prefix so files left behind by a crashed run are found and removed at start-up.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from types import TracebackType

PREFIX = "gigaam-"


def default_spool_path() -> Path:
    return Path(tempfile.gettempdir()) / "gigaam-api-spool"


class SpoolDir:
    """The directory holding per-request temporary files; created (mode 0700) if missing."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path if path is not None else default_spool_path()
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)

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

    def new(self, suffix: str = "") -> Path:
        path = self._spool_dir.new_file(suffix)
        self._paths.append(path)
        return path

    def remove_all(self) -> None:
        """Idempotent: files already gone are ignored."""
        while self._paths:
            self._paths.pop().unlink(missing_ok=True)

    def __enter__(self) -> RequestFiles:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.remove_all()
