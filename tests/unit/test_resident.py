"""Dropping mapped model files from the resident set, and glibc's fixed mmap threshold."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from gigaam_api.engines.resident import read_only_mappings

MAPS = """\
7f3a94e00000-7f3aa7e98000 r--s 00000000 fe:00 2269203   /m/gigaam-v3-ctc/openvino-cache/1.blob
7f3aa8000000-7f3aa8001000 rw-s 00000000 fe:00 2269204   /m/gigaam-v3-ctc/openvino-cache/2.blob
7f3aa9000000-7f3aa9002000 r--p 00000000 fe:00 2269205   /m/gigaam-v3-ctc/openvino-int8/v3_ctc.bin
7f3aaa000000-7f3aaa001000 r--p 00000000 fe:00 2269206   /m/gigaam-v3-ctc-other/v3_ctc.bin
7f3aab000000-7f3aab001000 r-xp 00000000 fe:00 2269207   /usr/lib/libc.so.6
7f3aac000000-7f3aac001000 rw-p 00000000 00:00 0
"""


def test_read_only_mappings_of_files_under_the_directory() -> None:
    assert read_only_mappings(MAPS, Path("/m/gigaam-v3-ctc")) == [
        (0x7F3A94E00000, 0x7F3AA7E98000),
        (0x7F3AA9000000, 0x7F3AA9002000),
    ]  # not the writable mapping, not a sibling directory sharing the prefix, not libraries


# In a fresh interpreter (a busy heap may hold a free block that large, which malloc reuses whatever the
# threshold): free one 8-MB block, allocate another, and see whether it got its own mapping.
_SECOND_BLOCK = """
import ctypes, ctypes.util, sys
from gigaam_api.engines.resident import fix_mmap_threshold

class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena ordblks smblks hblks hblkhd usmblks fsmblks "
                                               "uordblks fordblks keepcost").split()]

libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
libc.mallinfo2.restype = MallInfo2
if sys.argv[1] == "fixed":
    fix_mmap_threshold()
size = 8 << 20
libc.free(libc.malloc(size))
mapped = libc.mallinfo2().hblkhd
libc.malloc(size)
print(libc.mallinfo2().hblkhd - mapped >= size)
"""


def _second_block_mapped(mode: str) -> bool:
    out = subprocess.run(
        [sys.executable, "-c", _SECOND_BLOCK, mode], capture_output=True, text=True, check=True
    )
    return out.stdout.strip() == "True"


def test_large_blocks_keep_their_own_mapping_after_one_is_freed() -> None:
    """glibc's dynamic threshold serves the second block from the heap, where its pages stay after free."""
    assert not _second_block_mapped("default")  # what the fix is for
    assert _second_block_mapped("fixed")
