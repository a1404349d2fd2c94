"""The limit: raw engine throughput of the compute-equivalent model per runtime × precision, no service.

Each configuration runs in its own process (so its peak RSS is its own), loaded through the service's
`load_recognizer`. Each measurement is one onnx-asr `recognize` call on a batch of 20-s chunks, so it
includes the numpy log-mel preprocessor and CTC decoding exactly as the service pays them. Speed is
x realtime: audio seconds per wall second (median over runs, after one warm-up per configuration).
For OpenVINO the int8 IR is rebuilt once (conversion time) and the model is loaded once with an empty
compiled-model cache and once with the cache filled (cold start without / with the cache).

    python -m bench.limit [--threads 2] [--batches 1,2,4,8] [--runs 3] [--json out.json] [--cache DIR]
"""

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from bench.common import Json, machine_info, speech_like, write_json
from bench.configs import BY_LABEL, NOT_MEASURED, BenchConfig, auto_label, available
from bench.model import MODEL_NAME, ensure_model
from gigaam_api.engines.gigaam import ir
from gigaam_api.engines.gigaam.loader import fp32_onnx_files, load_recognizer
from gigaam_api.engines.gigaam.openvino import CACHE_DIR
from gigaam_api.engines.runtime import probe

CHUNK_SECONDS = 20.0

Waveforms = list[str | Path | npt.NDArray[np.float32]]


def _child(model_dir: Path, config: BenchConfig, *, threads: int, batches: list[int], runs: int) -> Json:
    """In the child process: load, then time `runs` calls per batch size after one warm-up."""
    started = time.perf_counter()
    asr = load_recognizer(model_dir, MODEL_NAME, config.choice(), threads)
    result: Json = {"label": config.label, "load_seconds": round(time.perf_counter() - started, 2)}
    chunks: Waveforms = [speech_like(CHUNK_SECONDS, seed) for seed in range(max(batches, default=1))]
    points = []
    for batch in batches:
        asr.recognize(chunks[:batch])
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
    result["peak_rss_mb"] = round(_peak_rss_kib() / 1024)
    return result


def _peak_rss_kib() -> int:
    """This process's peak RSS. Linux's ru_maxrss survives fork+exec (it would report the parent's),
    so prefer VmHWM, which belongs to this address space."""
    try:
        for line in Path("/proc/self/status").read_text(encoding="utf-8").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _in_child(label: str, model_dir: Path, *, threads: int, batches: list[int], runs: int) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.limit", "--child", label, "--model-dir", str(model_dir)]
    command += ["--threads", str(threads), "--batches", ",".join(map(str, batches)), "--runs", str(runs)]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def build_ir(model_dir: Path) -> float:
    """Conversion time of the int8 IR from the fp32 ONNX file (any earlier build is removed first)."""
    shutil.rmtree(model_dir / ir.IR_DIR, ignore_errors=True)
    seconds = ir.ensure_int8_ir(model_dir, fp32_onnx_files(MODEL_NAME))
    assert seconds is not None
    return round(seconds, 1)


def measure(
    model_dir: Path, configs: list[BenchConfig], *, threads: int, batches: list[int], runs: int
) -> list[Json]:
    results = []
    for config in configs:
        entry: Json = {"label": config.label, "runtime": config.runtime, "precision": config.precision}
        if config.runtime == "openvino":
            shutil.rmtree(model_dir / CACHE_DIR, ignore_errors=True)
            cold = _in_child(config.label, model_dir, threads=threads, batches=[], runs=0)
            entry["load_seconds_no_cache"] = cold["load_seconds"]
        measured = _in_child(config.label, model_dir, threads=threads, batches=batches, runs=runs)
        entry |= {
            "load_seconds": measured["load_seconds"],
            "peak_rss_mb": measured["peak_rss_mb"],
            "points": measured["points"],
        }
        points: list[dict[str, Any]] = measured["points"]
        speeds = ", ".join(f"batch {p['batch']}: {p['realtime']:.1f}x" for p in points)
        print(
            f"  {config.label}: {speeds}; load {entry['load_seconds']} s, peak RSS {entry['peak_rss_mb']} MB"
        )
        results.append(entry)
    return results


def run(
    *, threads: int = 2, batches: list[int] | None = None, runs: int = 3, cache: Path | None = None
) -> Json:
    """Build the model (and its int8 IR) if needed, measure every configuration, return the document."""
    batches = batches or [1, 2, 4, 8]
    built = ensure_model(cache)
    machine = machine_info(threads)
    print("  building the int8 OpenVINO IR (NNCF)", flush=True)
    conversion = build_ir(built.path)
    facts = probe(int8_ir_ready=True)
    configs = available(facts)
    results = measure(built.path, configs, threads=threads, batches=batches, runs=runs)
    # Other work on the box skews the numbers; the load at the end shows whether it did.
    machine["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    return {
        "kind": "limit",
        "model": {"name": MODEL_NAME, "weights": "random, compute-equivalent", "params": built.params},
        "chunk_seconds": CHUNK_SECONDS,
        "runs": runs,
        "machine": machine,
        "cpu_bf16": facts.openvino_bf16,
        "cpu_avx512": facts.avx512,
        "auto": auto_label(facts),
        "ir_conversion_seconds": conversion,
        "not_measured": NOT_MEASURED,
        "results": results,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=2, help="inference threads (default 2)")
    parser.add_argument("--batches", default="1,2,4,8", help="comma-separated batch sizes (default 1,2,4,8)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per configuration (default 3)")
    parser.add_argument("--json", type=Path, help="write the result document here")
    parser.add_argument(
        "--cache", type=Path, help="model cache dir (default $GIGAAM_BENCH_CACHE or ~/.cache)"
    )
    parser.add_argument("--child", choices=list(BY_LABEL), help=argparse.SUPPRESS)
    parser.add_argument("--model-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    batches = [int(b) for b in args.batches.split(",") if b]
    if args.child:
        result = _child(
            args.model_dir, BY_LABEL[args.child], threads=args.threads, batches=batches, runs=args.runs
        )
        print(json.dumps(result))
        return
    print(f"limit: {CHUNK_SECONDS:.0f}-s chunks, {args.threads} threads, batches {batches}, {args.runs} runs")
    result = run(threads=args.threads, batches=batches, runs=args.runs, cache=args.cache)
    if args.json:
        write_json(args.json, result)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
