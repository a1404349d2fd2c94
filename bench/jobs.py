"""`python -m bench.jobs`: what the jobs path costs, and how a backlog of jobs is scheduled.

1. Overhead: the 10-minute recording as one plain request, and as a job (submit, poll, fetch the
   verbose_json result), on the same server; medians of `--runs`.
2. Scheduling: long and short jobs submitted together (JOBS_WORKERS=2): the order they start in, when
   each ends, and a short synchronous request's latency while the backlog runs (jobs run at batch
   priority, so interactive requests go first).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from bench.common import cache_dir
from bench.configs import BY_LABEL, REFERENCE
from bench.model import ensure_model
from bench.recordings import recording
from bench.service import latency, serve, transcribe

POLL_SECONDS = 0.5  # the backlog's states: fine enough for start and end times, light on 2 cores


def run_job(url: str, path: Path) -> tuple[float, str]:
    """Submit, wait, fetch: the wall time a client sees, and the text."""
    started = time.monotonic()
    with path.open("rb") as f:
        job = httpx.post(f"{url}/v1/jobs", files={"file": ("upload", f)}, timeout=600).json()
    # Follow the job's event stream to its end, as a client would: polling every 50 ms with a new
    # connection each time cost this 2-core machine a third of the run in the client and the server.
    with httpx.stream("GET", f"{url}/v1/jobs/{job['id']}/events", timeout=600) as events:
        for line in events.iter_lines():
            if '"transcript.text.done"' in line:
                break
    body = httpx.get(
        f"{url}/v1/jobs/{job['id']}/result", params={"response_format": "verbose_json"}, timeout=60
    ).json()
    return time.monotonic() - started, str(body["text"])


def overhead(url: str, path: Path, runs: int) -> dict[str, Any]:
    plain, jobs = [], []
    plain_text = job_text = ""
    for _ in range(runs):
        result = transcribe(url, path, stream=False)
        plain.append(result.wall_seconds)
        plain_text = result.text
        wall, job_text = run_job(url, path)
        jobs.append(wall)
    p, j = statistics.median(plain), statistics.median(jobs)
    return {
        "plain_seconds": round(p, 2),
        "job_seconds": round(j, 2),
        "overhead_seconds": round(j - p, 2),
        "overhead_percent": round(100 * (j - p) / p, 1),
        "same_text": plain_text == job_text,
    }


def scheduling(url: str, long: Path, short: Path, interactive: Path) -> dict[str, Any]:
    kinds = ["long", "short", "short", "long", "short", "short", "short"]
    submitted: list[tuple[str, str, float]] = []
    for kind in kinds:
        with (long if kind == "long" else short).open("rb") as f:
            job = httpx.post(f"{url}/v1/jobs", files={"file": ("upload", f)}, timeout=600).json()
        submitted.append((job["id"], kind, time.monotonic()))
    began = submitted[0][2]
    started: dict[str, float] = {}
    ended: dict[str, float] = {}
    latencies: list[float] = []
    probe = threading.Thread(target=lambda: latencies.extend(latency(url, interactive) for _ in range(5)))
    probe.start()
    while len(ended) < len(submitted):
        for job_id, _, _ in submitted:
            if job_id in ended:
                continue
            status = httpx.get(f"{url}/v1/jobs/{job_id}", timeout=30).json()["status"]
            now = time.monotonic() - began
            if status != "queued":
                started.setdefault(job_id, now)
            if status == "succeeded":
                ended[job_id] = now
        time.sleep(POLL_SECONDS)
    probe.join()
    idle = statistics.median(latency(url, interactive) for _ in range(5))
    order = sorted(started, key=started.__getitem__)
    return {
        "jobs": [
            {"kind": kind, "started": round(started[i], 2), "ended": round(ended[i], 2)}
            for i, kind, _ in submitted
        ],
        "started_in_submission_order": order == [i for i, _, _ in submitted],
        "interactive_latency_idle_seconds": round(idle, 2),
        "interactive_latency_during_backlog_seconds": round(statistics.median(latencies), 2),
    }


def run(models_dir: Path, cache: Path, *, threads: int, runs: int) -> dict[str, Any]:
    """Both figures on one server (ONNX Runtime fp32, the reference configuration)."""
    files = {m: recording(cache, m) for m in (10, 3, 0.5, 10 / 60)}
    report: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="gigaam-bench-jobs-") as jobs_dir:
        settings = {**BY_LABEL[REFERENCE].env(), "JOBS_DIR": jobs_dir, "JOBS_POLL_SECONDS": "0.1"}
        with serve(models_dir, threads=threads, **settings) as server:
            print("== jobs: overhead on the 10-minute recording", flush=True)
            report["overhead_10min"] = overhead(server.url, files[10], runs)
            print(json.dumps(report["overhead_10min"]), flush=True)
            print("== jobs: a backlog of long (3 min) and short (30 s) jobs, 2 workers", flush=True)
            report["scheduling"] = scheduling(server.url, files[3], files[0.5], files[10 / 60])
            print(json.dumps(report["scheduling"], indent=1), flush=True)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None, help="also write the figures here (JSON)")
    args = parser.parse_args()
    cache = cache_dir()
    report = run(ensure_model(cache).path.parent, cache, threads=args.threads, runs=args.runs)
    if args.out is not None:
        args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
