"""What a limit child measures once its recogniser is up: load time, × realtime per batch size, the
texts of the last batch (for agreement with ORT fp32) and the process's peak RSS.

Shared by the service's runtimes (`bench.limit`) and OpenVINO's ONNX Runtime execution provider
(`bench.ovep`, run by another interpreter), so every configuration is timed the same way. Each
measurement is one onnx-asr `recognize` call on a batch of 20-s chunks: the numpy log-mel
preprocessor and CTC decoding included, as the service pays them.
"""

from __future__ import annotations

import resource
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from bench.common import Json, speech_like

if TYPE_CHECKING:
    from onnx_asr.adapters import TimestampedResultsAsrAdapter

CHUNK_SECONDS = 20.0

Waveforms = list[str | Path | npt.NDArray[np.float32]]


def measure_child(
    label: str, load: Callable[[], TimestampedResultsAsrAdapter], *, batches: list[int], runs: int
) -> Json:
    """Load, then time `runs` calls per batch size after one warm-up."""
    started = time.perf_counter()
    asr = load()
    result: Json = {"label": label, "load_seconds": round(time.perf_counter() - started, 2)}
    chunks: Waveforms = [speech_like(CHUNK_SECONDS, seed) for seed in range(max(batches, default=1))]
    points = []
    texts: list[str] = []
    for batch in batches:
        texts = [r.text for r in asr.recognize(chunks[:batch])]
        walls = []
        for _ in range(runs):
            start = time.perf_counter()
            asr.recognize(chunks[:batch])
            walls.append(time.perf_counter() - start)
        audio = batch * CHUNK_SECONDS
        points.append(
            {
                "batch": batch,
                "realtime": round(audio / statistics.median(walls), 2),
                "runs_realtime": [round(audio / w, 2) for w in walls],
            }
        )
    result["points"] = points
    result["texts"] = texts
    result["peak_rss_mb"] = round(peak_rss_kib() / 1024)
    return result


def peak_rss_kib() -> int:
    """This process's peak RSS. Linux's ru_maxrss survives fork+exec (it would report the parent's),
    so prefer VmHWM, which belongs to this address space."""
    try:
        for line in Path("/proc/self/status").read_text(encoding="utf-8").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
