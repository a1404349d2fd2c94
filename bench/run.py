"""`make bench`: the model's own speed (the limit) and the service against it, on this machine.

Writes docs/benchmarks.json and prints a markdown report (docs/benchmarks.md is that report plus
notes). Figures are medians of `--runs` runs; the hour-long runs are repeated `--hour-runs` times.
"""

from __future__ import annotations

import os

# VAD is measured on one core, as the server runs it (its CLI pins numpy's BLAS to one thread).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench import limit
from bench.common import cache_dir, machine_info, write_json
from bench.model import ensure_model
from bench.recordings import recording
from bench.report import render
from bench.service import Server, latency, serve, summary, transcribe
from gigaam_api.audio.decode import decode_all
from gigaam_api.vad.silero import SileroVad

Report = dict[str, Any]
ROOT = Path(__file__).resolve().parent.parent


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 2)


def _p95(values: list[float]) -> float:
    return round(float(np.percentile(values, 95)), 2)


def vad_speed(path: Path, runs: int) -> Report:
    audio = decode_all(path, max_seconds=24 * 3600)
    vad = SileroVad(num_threads=1)
    speeds = []
    for _ in range(runs):
        started = time.perf_counter()
        vad.probabilities(audio)
        speeds.append(len(audio) / 16000 / (time.perf_counter() - started))
    return {
        "audio_seconds": round(len(audio) / 16000),
        "threads": 1,
        "realtime": _median(speeds),
        "runs": speeds,
    }


def end_to_end(server: Server, path: Path, *, stream: bool, runs: int) -> Report:
    results = []
    for _ in range(runs):
        with server.watch_rss():
            result = transcribe(server.url, path, stream=stream)
        results.append(summary(result, server.peak_rss))
    keys = ("realtime", "speech_realtime", "wall_seconds", "first_segment_after_upload", "peak_rss_mb")
    med: Report = {
        k: _median([r[k] for r in results if r[k] is not None]) for k in keys if results[0][k] is not None
    }
    return {"stream": stream, "runs": results, **med}


def fairness(server: Server, short: Path, long: Path, samples: int) -> Report:
    alone = [latency(server.url, short) for _ in range(samples)]
    done = threading.Event()

    def long_job() -> None:
        transcribe(server.url, long, stream=False)
        done.set()

    threading.Thread(target=long_job, daemon=True).start()
    time.sleep(10)  # the hour-long job is past upload and decoding, deep in inference
    busy = []
    for _ in range(samples):
        busy.append(latency(server.url, short))
        time.sleep(1)
    still_running = not done.is_set()
    done.wait()
    return {
        "alone_p50": _median(alone),
        "alone_p95": _p95(alone),
        "busy_p50": _median(busy),
        "busy_p95": _p95(busy),
        "ratio_p50": round(statistics.median(busy) / statistics.median(alone), 2),
        "long_job_still_running_after_samples": still_running,
        "alone": alone,
        "busy": busy,
    }


def installed_size() -> Report:
    """The runtime environment alone (`uv sync --no-dev` into a scratch venv)."""
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, UV_PROJECT_ENVIRONMENT=tmp)
        uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
        subprocess.run([uv, "sync", "--frozen", "--no-dev", "--quiet"], cwd=ROOT, env=env, check=True)
        total = sum(p.stat().st_size for p in Path(tmp).rglob("*") if p.is_file() and not p.is_symlink())
    return {"runtime_venv_mb": round(total / 2**20)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--hour-runs", type=int, default=1)
    parser.add_argument("--batch-seconds", default="22,60", help="BATCH_SECONDS values to compare")
    parser.add_argument("--hour-precisions", default="int8", help="precisions run on the 1-hour file")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.json")
    args = parser.parse_args()

    cache = cache_dir()
    built = ensure_model(cache)
    models_dir = built.path.parent
    ten, hour = recording(cache, 10), recording(cache, 60)
    short = recording(cache, 10 / 60)
    report: Report = {
        "machine": machine_info(args.threads),
        "command": " ".join(["make bench", *sys.argv[1:]]),
    }

    print("== limit: raw engine throughput, 20-s chunks", flush=True)
    report["limit"] = limit.run(threads=args.threads, runs=args.runs, cache=cache)
    best = {
        p: max(r["realtime"] for r in report["limit"]["results"] if r["precision"] == p)
        for p in ("fp32", "int8")
    }
    best_batch1 = {
        p: next(r["realtime"] for r in report["limit"]["results"] if r["precision"] == p and r["batch"] == 1)
        for p in ("fp32", "int8")
    }

    print("== VAD alone (1 thread, 10 min)", flush=True)
    report["vad"] = vad_speed(ten, args.runs)

    service: Report = {}
    for precision in ("fp32", "int8"):
        quant = "none" if precision == "fp32" else "int8"
        for batch_seconds in args.batch_seconds.split(","):
            key = f"{precision}/batch{batch_seconds}s"
            print(f"== service {key}", flush=True)
            with serve(
                models_dir, quantization=quant, threads=args.threads, BATCH_SECONDS=batch_seconds
            ) as server:
                entry: Report = {"cold_start_seconds": round(server.cold_start_seconds, 2)}
                entry["10min_plain"] = end_to_end(server, ten, stream=False, runs=args.runs)
                entry["10min_stream"] = end_to_end(server, ten, stream=True, runs=args.runs)
                if (
                    precision in args.hour_precisions.split(",")
                    and batch_seconds == args.batch_seconds.split(",")[0]
                ):
                    entry["1h_plain"] = end_to_end(server, hour, stream=False, runs=args.hour_runs)
                    entry["1h_stream"] = end_to_end(server, hour, stream=True, runs=args.hour_runs)
                    entry["fairness"] = fairness(server, short, hour, samples=8)
            entry["efficiency"] = round(entry["10min_plain"]["speech_realtime"] / best[precision], 3)
            entry["efficiency_vs_batch1"] = round(
                entry["10min_plain"]["speech_realtime"] / best_batch1[precision], 3
            )
            service[key] = entry
    report["service"] = service
    report["installed"] = installed_size()
    report["machine"]["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    write_json(args.out, report)
    markdown = args.out.with_suffix(".md")
    markdown.write_text(render(report), encoding="utf-8")
    print(f"wrote {args.out} and {markdown}")


if __name__ == "__main__":
    main()
