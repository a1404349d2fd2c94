"""The limit: raw engine throughput of the compute-equivalent model, no service around it.

Each measurement is one onnx-asr `recognize` call on a batch of 20-s chunks, so it includes the numpy
log-mel preprocessor and CTC decoding exactly as the service pays them. Speed is reported as x realtime:
audio seconds processed per wall second (median over runs, after one warm-up per configuration).

    python -m bench.limit [--threads 2] [--batches 1,2,4,8] [--runs 3] [--json out.json] [--cache DIR]
"""

import argparse
import os
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnx_asr
from onnx_asr.adapters import TextResultsAsrAdapter

from bench.common import Json, machine_info, session_options, speech_like, write_json
from bench.model import MODEL_NAME, ensure_model

CHUNK_SECONDS = 20.0
PRECISIONS = ("fp32", "int8")

Waveforms = list[str | Path | npt.NDArray[np.float32]]


@dataclass(frozen=True)
class Point:
    """One (precision, batch) configuration's result."""

    precision: str
    batch: int
    realtime: float
    wall_seconds: float
    runs_realtime: list[float]


def _measure(asr: TextResultsAsrAdapter, waveforms: Waveforms, runs: int) -> list[float]:
    """Wall seconds of `runs` recognize calls after one warm-up (allocations, thread pool start)."""
    asr.recognize(waveforms)
    walls = []
    for _ in range(runs):
        start = time.perf_counter()
        asr.recognize(waveforms)
        walls.append(time.perf_counter() - start)
    return walls


def measure(model_dir: Path, *, threads: int, batches: list[int], runs: int) -> list[Point]:
    """x realtime for every precision and batch size."""
    chunks: Waveforms = [speech_like(CHUNK_SECONDS, seed) for seed in range(max(batches))]
    points = []
    for precision in PRECISIONS:
        asr = onnx_asr.load_model(
            MODEL_NAME,
            model_dir,
            quantization=None if precision == "fp32" else precision,
            providers=["CPUExecutionProvider"],
            sess_options=session_options(threads),
        )
        for batch in batches:
            walls = _measure(asr, chunks[:batch], runs)
            audio = batch * CHUNK_SECONDS
            wall = statistics.median(walls)
            point = Point(
                precision, batch, round(audio / wall, 2), round(wall, 3), [round(audio / w, 2) for w in walls]
            )
            print(
                f"  {precision} batch {batch}: {point.realtime:6.1f}x realtime ({wall:.2f} s per call)",
                flush=True,
            )
            points.append(point)
        del asr  # free this session before the next precision loads
    return points


def format_table(points: list[Point]) -> str:
    """Precision x batch table of x realtime."""
    batches = sorted({p.batch for p in points})
    lines = [f"{'':6}" + "".join(f"{f'batch {b}':>10}" for b in batches)]
    for precision in PRECISIONS:
        speed = {p.batch: p.realtime for p in points if p.precision == precision}
        lines.append(f"{precision:6}" + "".join(f"{speed[b]:>9.1f}x" for b in batches if b in speed))
    return "\n".join(lines)


def run(
    *, threads: int = 2, batches: list[int] | None = None, runs: int = 3, cache: Path | None = None
) -> Json:
    """Build the model if needed, measure, print the table and return the result document."""
    batches = batches or [1, 2, 4, 8]
    built = ensure_model(cache)
    machine = machine_info(threads)
    points = measure(built.path, threads=threads, batches=batches, runs=runs)
    # Other work on the box skews the numbers; the load at the end shows whether it did.
    machine["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    print(format_table(points))
    return {
        "kind": "limit",
        "model": {"name": MODEL_NAME, "weights": "random, compute-equivalent", "params": built.params},
        "chunk_seconds": CHUNK_SECONDS,
        "runs": runs,
        "machine": machine,
        "results": [asdict(p) for p in points],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=2, help="ONNX Runtime intra-op threads (default 2)")
    parser.add_argument("--batches", default="1,2,4,8", help="comma-separated batch sizes (default 1,2,4,8)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per configuration (default 3)")
    parser.add_argument("--json", type=Path, help="write the result document here")
    parser.add_argument(
        "--cache", type=Path, help="model cache dir (default $GIGAAM_BENCH_CACHE or ~/.cache)"
    )
    args = parser.parse_args()

    batches = [int(b) for b in args.batches.split(",")]
    print(f"limit: {CHUNK_SECONDS:.0f}-s chunks, {args.threads} threads, batches {batches}, {args.runs} runs")
    result = run(threads=args.threads, batches=batches, runs=args.runs, cache=args.cache)
    if args.json:
        write_json(args.json, result)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
