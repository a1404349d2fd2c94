"""Per-request temporary files (uploads, decoded PCM) in one spool directory.

A server claims its own subdirectory of SPOOL_DIR (`SpoolDir.claim`) and holds an flock on it for its
whole life, so instances sharing SPOOL_DIR never touch each other's files: at start-up `remove_stale`
deletes only directories whose lock is free (their process is gone), plus loose files with our prefix
written by versions that had no per-instance directories.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
import threading
from pathlib import Path
from types import TracebackType

from gigaam_api.config import default_spool_path

PREFIX = "gigaam-"
INSTANCE_PREFIX = "instance-"
_CLAIM_ATTEMPTS = 100  # each lost race means another instance removed our fresh directory: rare


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
        self._owner_fd: int | None = None  # the flock'ed directory of a claimed instance spool

    @classmethod
    def claim(cls, root: Path, *, max_bytes: int | None = None) -> SpoolDir:
        """A new subdirectory of `root` owned by this process (flock held until `close`)."""
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        for _ in range(_CLAIM_ATTEMPTS):
            path = Path(tempfile.mkdtemp(prefix=f"{INSTANCE_PREFIX}{os.getpid()}-", dir=root))
            fd = _lock_free_dir(path)
            # Between mkdtemp and the lock, another instance's `remove_stale` may have taken the
            # unlocked directory for a dead one's; then it is gone (or going) and we try a new name.
            if fd is not None and _is_open_at(fd, path):
                spool = cls(path, max_bytes=max_bytes)
                spool._owner_fd = fd
                return spool
            if fd is not None:
                os.close(fd)
        raise OSError(f"could not claim a spool directory in {root}")

    def close(self) -> None:
        """A claimed spool: remove its directory with everything left in it, then release the lock."""
        if self._owner_fd is None:
            return
        shutil.rmtree(self.path, ignore_errors=True)
        os.close(self._owner_fd)
        self._owner_fd = None

    def __enter__(self) -> SpoolDir:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

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

    def new_file(self, suffix: str = "") -> Path:
        """A new, empty file with a unique name, readable only by us (mkstemp creates it with mode 0600)."""
        fd, name = tempfile.mkstemp(prefix=PREFIX, suffix=suffix, dir=self.path)
        os.close(fd)
        return Path(name)

    def files(self) -> RequestFiles:
        """The files of one request: `with spool_dir.files() as files: path = files.new(".upload")`."""
        return RequestFiles(self)


def remove_stale(root: Path) -> int:
    """Remove what dead instances left in `root`: unlocked instance directories and loose prefixed files.

    Returns how many were removed. Directories of live instances (lock held) are left alone.
    """
    removed = 0
    if not root.is_dir():
        return removed
    for entry in root.iterdir():
        if entry.name.startswith(INSTANCE_PREFIX) and entry.is_dir() and not entry.is_symlink():
            fd = _lock_free_dir(entry)
            if fd is None:
                continue  # its owner is alive
            try:
                shutil.rmtree(entry, ignore_errors=True)
            finally:
                os.close(fd)
            removed += 1
        elif entry.name.startswith(PREFIX) and entry.is_file():
            entry.unlink(missing_ok=True)
            removed += 1
    return removed


def _lock_free_dir(path: Path) -> int | None:
    """An open descriptor of directory `path` holding its exclusive flock, or None if taken or gone.

    Other errors (a file system without flock) propagate: ownership could not be told apart.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except OSError:
        os.close(fd)
        raise
    return fd


def _is_open_at(fd: int, path: Path) -> bool:
    """Whether `path` still names the directory open as `fd`."""
    with contextlib.suppress(OSError):
        here, opened = os.stat(path), os.fstat(fd)
        return (here.st_dev, here.st_ino) == (opened.st_dev, opened.st_ino)
    return False


class RequestFiles:
    """Tracks the files created for one request and removes them all on exit, whatever the outcome.

    A request may reserve what it expects to write (its upload and decoded audio) when it starts, so
    that under a shared budget the first requests finish and later ones are refused at once, rather
    than all of them running out part-way. Its writes draw on the reservation first.
    """

    def __init__(self, spool_dir: SpoolDir) -> None:
        self._spool_dir = spool_dir
        self._paths: list[Path] = []
        self._charged = 0  # written or reserved
        self._reserved = 0  # reserved, not yet written
        self._lock = threading.Lock()  # the upload (event loop) and the decoder (a thread) both charge

    def charge(self, nbytes: int) -> None:
        """Account for `nbytes` about to be written; `SpoolFullError` if the spool's budget would pass.

        Thread-safe; everything charged is refunded by `remove_all`.
        """
        with self._lock:
            covered = min(nbytes, self._reserved)
            self._spool_dir._charge(nbytes - covered)
            self._reserved -= covered
            self._charged += nbytes - covered

    def reserve(self, nbytes: int) -> None:
        """Set the part of the budget held for writes still to come to `nbytes` (grow or give back).

        Growing raises `SpoolFullError` (nothing changed) if the spool's budget would pass.
        """
        with self._lock:
            if nbytes > self._reserved:
                self._spool_dir._charge(nbytes - self._reserved)
            else:
                self._spool_dir._refund(self._reserved - nbytes)
            self._charged += nbytes - self._reserved
            self._reserved = nbytes

    def expect(self, nbytes: int) -> None:
        """`reserve`, when more is known of what is still to come (the decoder read the duration); a
        reservation that cannot grow stays as it is: later writes are charged as they come."""
        with contextlib.suppress(SpoolFullError):
            self.reserve(nbytes)

    def new(self, suffix: str = "") -> Path:
        path = self._spool_dir.new_file(suffix)
        self._paths.append(path)
        return path

    def remove_all(self) -> None:
        """Idempotent: files already gone are ignored."""
        while self._paths:
            self._paths.pop().unlink(missing_ok=True)
        with self._lock:
            charged, self._charged, self._reserved = self._charged, 0, 0
        self._spool_dir._refund(charged)

    def __enter__(self) -> RequestFiles:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.remove_all()
