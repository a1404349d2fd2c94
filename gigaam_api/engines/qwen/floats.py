"""Importing qwen-asr must not change how this thread computes.

qwen-asr imports nagisa (Japanese word splitting for its forced aligner), whose DyNet library switches the
importing thread's SSE state to flush subnormal floats to zero (FTZ/DAZ, as `-ffast-math` code does).
Whatever else runs on that thread afterwards (the VAD, GigaAM, numpy) would silently compute differently,
so the thread's floating-point environment is saved before the import and restored after it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Iterator
from contextlib import contextmanager

_FENV_BYTES = 64  # room for glibc's fenv_t (32 bytes on x86-64: x87 state and MXCSR)


@contextmanager
def same_float_environment() -> Iterator[None]:
    """Restore the calling thread's floating-point environment (C `fegetenv`/`fesetenv`) on exit."""
    name = ctypes.util.find_library("m")
    if name is None:  # no C maths library to ask: nothing we can save or restore
        yield
        return
    libm = ctypes.CDLL(name)
    saved = ctypes.create_string_buffer(_FENV_BYTES)
    libm.fegetenv(saved)
    try:
        yield
    finally:
        libm.fesetenv(saved)


def import_qwen_asr() -> None:
    """Import qwen-asr (and nagisa) once, leaving this thread's floating-point environment as it was."""
    with same_float_environment():
        import qwen_asr  # type: ignore[import-untyped]  # noqa: F401
