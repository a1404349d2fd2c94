"""`python -m bench.queue`: the waiting line at the defaults, and what a waiting request costs.

1. Wait: `--requests` (20) concurrent 10-s requests against `gigaam-api serve` at its default MAX_RUNNING
   and MAX_WAITING (the shape of Open WebUI's parallel chunks): their latency p50/p95, the server's own
   line-wait histogram, and how many were refused (the target is none).
2. Cost: a server whose running slot is held at a gate (`tests.fixtures.gated_serve`, MAX_RUNNING=1),
   its RSS and spool bytes with 0 and then `--waiting` requests in line: the RAM and disk one waiting
   request holds.
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil

from bench.common import cache_dir
from bench.model import ensure_model
from bench.recordings import recording
from bench.service import latency, serve, serve_module

Report = dict[str, Any]
ENDPOINT = "/v1/audio/transcriptions"


def _metrics(url: str) -> dict[str, float]:
    samples = {}
    for line in httpx.get(f"{url}/metrics", timeout=10).text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


def _post(url: str, audio: bytes) -> tuple[int, float]:
    started = time.monotonic()
    response = httpx.post(f"{url}{ENDPOINT}", files={"file": ("a.wav", audio)}, timeout=3600)
    return response.status_code, time.monotonic() - started


def line_wait(models_dir: Path, short: Path, *, threads: int, requests: int) -> Report:
    """`requests` short requests at once against the defaults: latency and time in line."""
    audio = short.read_bytes()
    with serve(models_dir, threads=threads) as server:
        alone = statistics.median(latency(server.url, short) for _ in range(3))
        before = _metrics(server.url)
        with ThreadPoolExecutor(requests) as pool:
            results = list(pool.map(lambda _: _post(server.url, audio), range(requests)))
        after = _metrics(server.url)
        health = httpx.get(f"{server.url}/health", timeout=10).json()
    latencies = [seconds for status, seconds in results if status == 200]
    waited = after["gigaam_line_wait_seconds_sum"] - before.get("gigaam_line_wait_seconds_sum", 0.0)
    in_line = after["gigaam_line_wait_seconds_count"] - before.get("gigaam_line_wait_seconds_count", 0.0)
    return {
        "requests": requests,
        "max_running": health["max_running"],
        "max_waiting": health["max_waiting"],
        "refused": sum(status != 200 for status, _ in results),
        "alone_seconds": round(alone, 2),
        "latency_p50_seconds": round(statistics.median(latencies), 2),
        "latency_p95_seconds": round(float(np.percentile(latencies, 95)), 2),
        "latency_max_seconds": round(max(latencies), 2),
        "line_wait_mean_seconds": round(waited / in_line, 2) if in_line else None,
    }


@contextmanager
def _gated_server(models_dir: Path, threads: int) -> Iterator[tuple[str, psutil.Process]]:
    """`gigaam-api serve` with every inference batch held until SIGUSR1, and one running slot."""
    settings = {"MAX_RUNNING": "1", "SHUTDOWN_GRACE_SECONDS": "1"}
    with serve_module(("tests.fixtures.gated_serve",), models_dir, threads=threads, **settings) as server:
        try:
            yield server.url, psutil.Process(server.process.pid)
        finally:
            server.process.send_signal(signal.SIGUSR1)  # let the held work finish, then stop


def _wait_for(condition: Any, limit: float = 600) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError("gave up waiting")
        time.sleep(0.1)


def _steady_rss(process: psutil.Process) -> int:
    """The median of a few samples, once the server has had a moment to settle."""
    time.sleep(1.0)
    samples = []
    for _ in range(5):
        samples.append(process.memory_info().rss)
        time.sleep(0.2)
    return int(statistics.median(samples))


def waiting_cost(models_dir: Path, short: Path, *, threads: int, waiting: int) -> Report:
    """RSS and spool bytes of a server with 0, then `waiting`, complete uploads waiting in line."""
    audio = short.read_bytes()
    with _gated_server(models_dir, threads) as (url, process), ThreadPoolExecutor(waiting + 1) as pool:

        def health() -> dict[str, Any]:
            body: dict[str, Any] = httpx.get(f"{url}/health", timeout=10).json()
            return body

        running = pool.submit(_post, url, audio)
        _wait_for(lambda: health()["running"] == 1)
        rss_0, spool_0 = _steady_rss(process), health()["spool_bytes"]
        futures = [pool.submit(_post, url, audio) for _ in range(waiting)]
        _wait_for(lambda: health()["waiting"] == waiting)
        rss_n, spool_n = _steady_rss(process), health()["spool_bytes"]
        process.send_signal(signal.SIGUSR1)
        statuses = [f.result()[0] for f in [running, *futures]]
    return {
        "waiting": waiting,
        "upload_bytes": len(audio),
        "rss_mb_0_waiting": round(rss_0 / 2**20, 1),
        f"rss_mb_{waiting}_waiting": round(rss_n / 2**20, 1),
        "rss_kb_per_waiting_request": round((rss_n - rss_0) / waiting / 1024, 1),
        "spool_bytes_per_waiting_request": round((spool_n - spool_0) / waiting),
        "all_answered_200": all(s == 200 for s in statuses),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--waiting", type=int, default=32)
    parser.add_argument("--out", type=Path, default=None, help="also write the figures here (JSON)")
    args = parser.parse_args()
    cache = cache_dir()
    models_dir = ensure_model(cache).path.parent
    short = recording(cache, 10 / 60)
    report = {
        "line_wait": line_wait(models_dir, short, threads=args.threads, requests=args.requests),
        "waiting_cost": waiting_cost(models_dir, short, threads=args.threads, waiting=args.waiting),
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
