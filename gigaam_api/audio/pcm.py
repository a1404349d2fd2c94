"""The PCM spool: decoded audio on disk, appended by one writer thread and read in windows while it grows.

Keeping samples in a file rather than in memory makes a request's footprint independent of the audio's
length; readers take only the windows they need, so a pipeline can start before decoding has finished.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import numpy.typing as npt

_BYTES_PER_SAMPLE = 2
_INT16_SCALE = 1.0 / 32768.0


class PcmSpool:
    """16 kHz mono int16 samples in a file: the decoder appends, the pipeline reads windows.

    The whole file is never loaded into memory. One thread writes (`append`, then `finish` exactly once,
    also on failure so that waiting readers wake up); any number of threads may read.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        self._fd_lock = threading.Lock()
        self._cond = threading.Condition()
        self._available = 0
        self._finished = False
        self._error: BaseException | None = None
        self._declared: float | None = None

    @property
    def available(self) -> int:
        """Samples written so far."""
        with self._cond:
            return self._available

    @property
    def finished(self) -> bool:
        with self._cond:
            return self._finished

    @property
    def error(self) -> BaseException | None:
        """Why the writer stopped early, if it did."""
        with self._cond:
            return self._error

    @property
    def total(self) -> int | None:
        """The number of samples once the writer finished successfully; None before, or after a failure."""
        with self._cond:
            return self._available if self._finished and self._error is None else None

    @property
    def declared_seconds(self) -> float | None:
        """The length the container's header declares (an estimate: headers can lie), if it has one."""
        with self._cond:
            return self._declared

    def declare(self, seconds: float) -> None:
        """Writer only: the header's length, known before the first sample is decoded."""
        with self._cond:
            self._declared = seconds

    def append(self, samples: npt.NDArray[np.int16]) -> None:
        """Writer only: add samples at the end and wake readers waiting for them."""
        if self.finished:
            raise RuntimeError("PcmSpool.append after finish")
        data = np.ascontiguousarray(samples, dtype="<i2").data.cast("B")
        # Only the writer moves `_available`, so the write itself needs no lock; readers never look past it.
        offset = self.available * _BYTES_PER_SAMPLE
        while data:
            written = os.pwrite(self._fd, data, offset)
            data = data[written:]
            offset += written
        with self._cond:
            self._available = offset // _BYTES_PER_SAMPLE
            self._cond.notify_all()

    def finish(self, error: BaseException | None = None) -> None:
        """Writer only: no more samples (`error` says why, if decoding failed); wakes every waiter.

        Later calls are ignored, so a caller may finish defensively in a `finally`.
        """
        with self._cond:
            if self._finished:
                return
            self._finished = True
            self._error = error
            self._cond.notify_all()

    def wait_for(self, n_samples: int, timeout: float | None = None) -> int:
        """Block until `n_samples` are available or the writer finished (or `timeout`); returns available."""
        with self._cond:
            self._cond.wait_for(lambda: self._available >= n_samples or self._finished, timeout)
            return self._available

    def read(self, start: int, stop: int) -> npt.NDArray[np.float32]:
        """Samples [start, stop) as float32 in [-1, 1); `stop` is clipped to what is available."""
        stop = min(stop, self.available)
        start = max(0, min(start, stop))
        size = (stop - start) * _BYTES_PER_SAMPLE
        chunks: list[bytes] = []
        offset = start * _BYTES_PER_SAMPLE
        # Under the lock `close` takes: a batch still running when its request ends never reads a
        # closed descriptor, or one the OS has already handed to another request's file.
        with self._fd_lock:
            if self._fd < 0:
                raise OSError("PCM spool is closed")
            while size > 0:
                chunk = os.pread(self._fd, size, offset)
                if not chunk:
                    raise OSError("PCM spool file is shorter than the samples written to it")
                chunks.append(chunk)
                size -= len(chunk)
                offset += len(chunk)
        samples = np.frombuffer(b"".join(chunks), dtype="<i2")
        return samples.astype(np.float32) * np.float32(_INT16_SCALE)

    def close(self) -> None:
        """Close the file (idempotent); removing it is the owner's business (see `RequestFiles`)."""
        with self._fd_lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1

    def __enter__(self) -> PcmSpool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
