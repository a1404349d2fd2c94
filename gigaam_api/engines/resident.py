"""Keep model files the runtime no longer reads out of the resident set, and big buffers out of the heap.

OpenVINO maps its compiled model (the cache blob, or the IR's `.bin`) read-only and, on the first
inference, copies every weight into the CPU plugin's packed layout: from then on both copies count in
the process's RSS, although the mapped one is hardly read again (measured: ~30 of 304 MB come back).
Dropping this process's read-only mappings of those files costs nothing: the pages stay in the page
cache, and whatever is read again faults back in from it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from pathlib import Path
from typing import Final

log = logging.getLogger(__name__)

_MADV_DONTNEED: Final = 4
_M_MMAP_THRESHOLD: Final = -3
MMAP_THRESHOLD_BYTES: Final = 128 * 1024  # glibc's initial threshold, kept fixed


def read_only_mappings(proc_maps: str, directory: Path) -> list[tuple[int, int]]:
    """The address ranges in `/proc/self/maps`'s text that map, read-only, a file under `directory`."""
    under = f"{directory.resolve()}/"
    ranges = []
    for line in proc_maps.splitlines():
        fields = line.split(maxsplit=5)
        if len(fields) < 6 or "w" in fields[1] or not fields[5].startswith(under):
            continue
        start, end = (int(x, 16) for x in fields[0].split("-"))
        ranges.append((start, end))
    return ranges


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    return ctypes.CDLL(name, use_errno=True) if name is not None else None


def drop_mapped_files(directory: Path) -> int:
    """Unmap from this process's resident set the pages of read-only mappings of files under
    `directory`; returns the bytes advised (0 where there is no `/proc/self/maps` or `madvise`)."""
    libc = _libc()
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return 0
    if libc is None or not hasattr(libc, "madvise"):
        return 0
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    dropped = 0
    for start, end in read_only_mappings(maps, directory):
        if libc.madvise(start, end - start, _MADV_DONTNEED) == 0:
            dropped += end - start
    return dropped


def fix_mmap_threshold() -> None:
    """Have glibc serve every allocation from 128 KiB up with its own mapping, returned on free.

    By default glibc raises that threshold each time such a block is freed, after which the runtimes'
    per-batch activation buffers (megabytes, a new size for each chunk length) come from the heap and
    stay there: measured on the 10-minute file, ~100 MB of the service's RSS."""
    libc = _libc()
    if libc is not None and hasattr(libc, "mallopt"):
        libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
