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

from bench import dedup, jobs, limit, queue
from bench.alternate import alternate
from bench.common import cache_dir, machine_info, write_json
from bench.configs import BY_LABEL, REFERENCE, BenchConfig
from bench.fidelity import char_error_rate, words_per_minute
from bench.model import MODEL_NAME, ensure_model
from bench.recordings import recording
from bench.report import render
from bench.service import Server, latency, serve, summary, transcribe
from gigaam_api.audio.decode import decode_all
from gigaam_api.engines.gigaam.openvino import CACHE_DIR
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


def end_to_end(server: Server, path: Path, *, stream: bool, runs: int) -> tuple[Report, str]:
    """The runs' medians, and the first run's text (for fidelity) with its words per minute."""
    results = []
    texts = []
    for _ in range(runs):
        with server.watch_rss():
            result = transcribe(server.url, path, stream=stream)
        results.append(summary(result, server.peak_rss))
        texts.append(result.text)
    keys = ("realtime", "speech_realtime", "wall_seconds", "first_segment_after_upload", "peak_rss_mb")
    med: Report = {
        k: _median([r[k] for r in results if r[k] is not None]) for k in keys if results[0][k] is not None
    }
    words = words_per_minute(texts[0], results[0]["audio_seconds"])
    return {"stream": stream, "runs": results, **med, "words_per_minute": words}, texts[0]


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


EXTRA_SETS = {"base": [], "cpu": ["cpu"], "cpu+convert": ["cpu", "convert"], "cuda": ["cuda"]}


def installed_size() -> Report:
    """The runtime environment (`uv sync --no-dev`) in scratch venvs, without and with each extra."""
    sizes: Report = {}
    # The uv running the bench (`uv run` sets UV; `make bench` may use its private copy), else uv on PATH.
    uv = os.environ.get("UV") or shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    for name, extras in EXTRA_SETS.items():
        with tempfile.TemporaryDirectory() as tmp:
            env = dict(os.environ, UV_PROJECT_ENVIRONMENT=tmp)
            flags = [f for e in extras for f in ("--extra", e)]
            command = [uv, "sync", "--frozen", "--no-dev", "--quiet", *flags]
            subprocess.run(command, cwd=ROOT, env=env, check=True)
            files = (p for p in Path(tmp).rglob("*") if p.is_file() and not p.is_symlink())
            sizes[name] = round(sum(p.stat().st_size for p in files) / 2**20)
    return {"runtime_venv_mb": sizes["cpu+convert"], "by_extras_mb": sizes}


def service_run(
    models_dir: Path, config: BenchConfig, files: dict[str, Path], args: argparse.Namespace, *, default: bool
) -> tuple[Report, dict[str, str]]:
    """One configuration end to end; OpenVINO also starts once with an empty compiled-model cache."""
    settings = {**config.env(), "BATCH_SECONDS": args.batch_seconds}
    entry: Report = {}
    if config.runtime == "openvino":
        shutil.rmtree(models_dir / MODEL_NAME / CACHE_DIR, ignore_errors=True)
        with serve(models_dir, threads=args.threads, **settings) as server:
            entry["cold_start_no_cache_seconds"] = round(server.cold_start_seconds, 2)
    texts = {}
    with serve(models_dir, threads=args.threads, **settings) as server:
        entry["cold_start_seconds"] = round(server.cold_start_seconds, 2)
        entry["10min_plain"], texts["10min"] = end_to_end(
            server, files["10min"], stream=False, runs=args.runs
        )
        entry["10min_stream"], _ = end_to_end(server, files["10min"], stream=True, runs=args.runs)
        entry["1h_plain"], texts["1h"] = end_to_end(server, files["1h"], stream=False, runs=args.hour_runs)
        if default:
            entry["1h_stream"], _ = end_to_end(server, files["1h"], stream=True, runs=args.hour_runs)
            entry["fairness"] = fairness(server, files["10s"], files["1h"], samples=8)
    return entry, texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--hour-runs", type=int, default=1)
    parser.add_argument(
        "--alternate-rounds", type=int, default=5, help="rounds of the default and ORT int8 in turn (0: none)"
    )
    parser.add_argument("--batch-seconds", default="22", help="BATCH_SECONDS for the service runs")
    parser.add_argument(
        "--configs", default="", help="comma-separated configurations (default: all this CPU runs)"
    )
    parser.add_argument("--batches", default="1,2,4,8", help="batch sizes for the limit")
    parser.add_argument("--long-minutes", type=float, default=60, help="the long recording (smoke runs: 3)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.json")
    args = parser.parse_args()
    requested = [c for c in args.configs.split(",") if c]
    if limit_only := [c for c in requested if c in BY_LABEL and not BY_LABEL[c].service]:
        parser.error(f"{', '.join(limit_only)}: measured by the limit only, the service cannot run them")

    cache = cache_dir()
    built = ensure_model(cache)
    models_dir = built.path.parent
    files = {
        "10min": recording(cache, 10),
        "1h": recording(cache, args.long_minutes),
        "10s": recording(cache, 10 / 60),
    }
    report: Report = {
        "machine": machine_info(args.threads),
        "command": " ".join(["python -m bench.run", *sys.argv[1:]]) if sys.argv[1:] else "make bench",
    }

    print("== limit: raw engine throughput per runtime x precision, 20-s chunks", flush=True)
    batches = [int(b) for b in args.batches.split(",")]
    report["limit"] = limit.run(
        threads=args.threads, batches=batches, runs=args.runs, cache=cache, only=requested
    )
    # End to end only what the service can run (the execution provider is the limit's alone).
    measured = [r["label"] for r in report["limit"]["results"] if BY_LABEL[r["label"]].service]
    labels = requested or measured
    default = report["limit"]["auto"]
    best = {r["label"]: max(p["realtime"] for p in r["points"]) for r in report["limit"]["results"]}
    best_batch1 = {r["label"]: r["points"][0]["realtime"] for r in report["limit"]["results"]}

    print("== VAD alone (1 thread, 10 min)", flush=True)
    report["vad"] = vad_speed(files["10min"], args.runs)

    service: Report = {}
    texts: dict[str, dict[str, str]] = {}
    for label in labels:
        print(f"== service {label}{' (auto here)' if label == default else ''}", flush=True)
        entry, texts[label] = service_run(models_dir, BY_LABEL[label], files, args, default=label == default)
        entry["efficiency"] = round(entry["10min_plain"]["speech_realtime"] / best[label], 3)
        entry["efficiency_vs_batch1"] = round(entry["10min_plain"]["speech_realtime"] / best_batch1[label], 3)
        service[label] = entry
    if REFERENCE in texts:
        print("== fidelity: character edit rate against ONNX Runtime fp32", flush=True)
        for label, entry in service.items():
            entry["cer"] = {
                f: round(char_error_rate(texts[REFERENCE][f], texts[label][f]), 4) for f in texts[label]
            }
    report["service"] = service
    report["default"] = default
    if "ort-int8" in service and default != "ort-int8" and args.alternate_rounds > 0:
        print("== the default against ONNX Runtime int8 on 10 min, their requests in turn", flush=True)
        report["alternating"] = alternate(
            models_dir,
            {
                label: {**BY_LABEL[label].env(), "BATCH_SECONDS": args.batch_seconds}
                for label in (default, "ort-int8")
            },
            files["10min"],
            warm_up=files["10s"],
            rounds=args.alternate_rounds,
            threads=args.threads,
        )
    print("== the waiting line (20 concurrent 10-s requests) and a waiting request's cost", flush=True)
    report["queue"] = {
        "line_wait": queue.line_wait(models_dir, files["10s"], threads=args.threads, requests=20),
        "waiting_cost": queue.waiting_cost(models_dir, files["10s"], threads=args.threads, waiting=32),
    }
    print("== dedup: a repeat from the result cache, a retry after a client timeout (10 min)", flush=True)
    report["dedup"] = dedup.run(models_dir, files["10min"], threads=args.threads, give_up_after=10)
    report["jobs"] = jobs.run(models_dir, cache, threads=args.threads, runs=args.runs)
    report["installed"] = installed_size()
    report["machine"]["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    write_json(args.out, report)
    markdown = args.out.with_suffix(".md")
    markdown.write_text(render(report), encoding="utf-8")
    print(f"wrote {args.out} and {markdown}")


if __name__ == "__main__":
    main()
