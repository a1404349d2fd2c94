"""What diarization costs the service end to end: extra wall time and peak RSS on the 10-minute and
1-hour recordings, and the time to the first diarized segment of a stream.

The speaker model is WeSpeaker's CAM++ with random weights (tests/fixtures/wespeaker_model.py): the
production default's exact graph, so it costs what the real one costs (as bench/model.py's GigaAM does).
The transcription is the configuration default settings run on this machine (`auto`), as a user gets it.
Plain and diarized runs alternate (plain first, then diarized first, …) in one process tree, so a busy
machine slows both alike; each run gets a fresh server, so its peak RSS is its own (the speaker model is
loaded by the diarized run only). Results carry the load average before and after, and the CPU seconds
the server spent on each request beside its wall time: on a machine other work keeps busy, the wall
time of one run can double between two runs; the CPU time barely moves.

    python -m bench.diarization [--cache DIR] [--runs 3] [--stream-runs 2] [--hour-runs 1] [--long-minutes 60]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from pathlib import Path
from typing import Any

import psutil

from bench.common import cache_dir, machine_info
from bench.configs import BY_LABEL, label_of
from bench.model import ensure_model
from bench.recordings import recording
from bench.service import serve, summary, transcribe
from gigaam_api.config import load_settings
from gigaam_api.engines.gigaam.loader import choose_runtime
from gigaam_api.speakers.catalog import DEFAULT_SPEAKER_MODEL, MODELS
from gigaam_api.speakers.weights import missing_files

Report = dict[str, Any]
DIARIZE = {"diarize": "true"}


def asr_config(models_dir: Path) -> str:
    """The configuration default settings run on this machine and models directory (int8-static once its
    IR is built): a user's transcription, beside which diarization's share is measured."""
    return label_of(choose_runtime(load_settings(_env_file=None, MODELS_DIR=models_dir)))


def speaker_models_dir(cache: Path) -> Path:
    """The bench's GigaAM beside the random-weight default speaker model, where default settings find both."""
    models_dir = ensure_model(cache).path.parent
    spec = MODELS[DEFAULT_SPEAKER_MODEL]
    if missing_files(models_dir / spec.name, spec):
        from tests.fixtures.wespeaker_model import build

        build(models_dir)
    return models_dir


def _cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def _run(
    models_dir: Path, path: Path, warm_up: Path, threads: int, config: str, *, diarize: bool, stream: bool
) -> Report:
    """One request on a fresh server after a 10-s warm-up request of the same kind: its wall time, peak
    RSS, and the CPU seconds the server spent on it (user + system), which a busy machine changes far
    less than the wall time. The warm-up loads the speaker model on a diarized server, as the first
    diarized request does on a running service (the ASR model is loaded and warmed by the start); its wall
    time is reported beside."""
    fields = DIARIZE if diarize else None
    settings = BY_LABEL[config].env()
    with serve(models_dir, threads=threads, **settings) as server, server.watch_rss():
        first = transcribe(server.url, warm_up, stream=False, fields=fields).wall_seconds
        before = _cpu_seconds(server.process.pid)
        result = transcribe(server.url, path, stream=stream, fields=fields)
        cpu = _cpu_seconds(server.process.pid) - before
    return summary(result, server.peak_rss) | {
        "cpu_seconds": round(cpu, 1),
        "warm_up_seconds": round(first, 2),
    }


def compare(
    models_dir: Path,
    path: Path,
    warm_up: Path,
    threads: int,
    *,
    runs: int,
    config: str,
    stream: bool = False,
) -> Report:
    """`runs` plain and `runs` diarized runs of `path`, alternating; medians and the extra share."""
    plain: list[Report] = []
    diarized: list[Report] = []
    for index in range(runs):
        for diarize in (False, True) if index % 2 == 0 else (True, False):
            measured = _run(models_dir, path, warm_up, threads, config, diarize=diarize, stream=stream)
            (diarized if diarize else plain).append(measured)
            print(f"  {'diarized' if diarize else 'plain   '} {json.dumps(measured)}", flush=True)

    def median(runs: list[Report], key: str) -> float:
        return float(statistics.median(r[key] for r in runs))

    report: Report = {
        "runs": runs,
        "plain_wall_seconds": [r["wall_seconds"] for r in plain],
        "diarized_wall_seconds": [r["wall_seconds"] for r in diarized],
        "extra_time_share": round(median(diarized, "wall_seconds") / median(plain, "wall_seconds") - 1, 3),
        "plain_cpu_seconds": [r["cpu_seconds"] for r in plain],
        "diarized_cpu_seconds": [r["cpu_seconds"] for r in diarized],
        "extra_cpu_share": round(median(diarized, "cpu_seconds") / median(plain, "cpu_seconds") - 1, 3),
        "plain_peak_rss_mb": median(plain, "peak_rss_mb"),
        "diarized_peak_rss_mb": median(diarized, "peak_rss_mb"),
        "extra_peak_rss_mb": round(median(diarized, "peak_rss_mb") - median(plain, "peak_rss_mb"), 1),
        # The 10-s warm-up: on a diarized server it also loads and compiles the speaker model.
        "plain_warm_up_seconds": [r["warm_up_seconds"] for r in plain],
        "diarized_warm_up_seconds": [r["warm_up_seconds"] for r in diarized],
    }
    if stream:
        report["plain_first_segment_seconds"] = [r["first_segment_after_upload"] for r in plain]
        report["diarized_first_segment_seconds"] = [r["first_segment_after_upload"] for r in diarized]
    return report


def run(
    cache: Path, *, threads: int, runs: int, stream_runs: int, hour_runs: int, long_minutes: float
) -> Report:
    models_dir = speaker_models_dir(cache)
    files = {
        "10s": recording(cache, 1 / 6),
        "10min": recording(cache, 10),
        "1h": recording(cache, long_minutes),
    }
    config = asr_config(models_dir)
    report: Report = {
        "machine": machine_info(threads),
        "niceness": os.nice(0),
        "asr": config,
        "speaker_model": DEFAULT_SPEAKER_MODEL,
    }
    print(f"== diarization beside {config}: 10 min, plain and diarized alternating", flush=True)
    report["10min"] = compare(models_dir, files["10min"], files["10s"], threads, runs=runs, config=config)
    if stream_runs:
        print("== diarization: first segment of a stream, 10 min", flush=True)
        report["10min_stream"] = compare(
            models_dir, files["10min"], files["10s"], threads, runs=stream_runs, config=config, stream=True
        )
    if hour_runs:  # a busy machine may not have the hours: 0 skips it
        print(f"== diarization: {long_minutes:g} min, plain and diarized alternating", flush=True)
        report["1h"] = compare(models_dir, files["1h"], files["10s"], threads, runs=hour_runs, config=config)
    report["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cache", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--stream-runs", type=int, default=2)
    parser.add_argument("--hour-runs", type=int, default=1)
    parser.add_argument("--long-minutes", type=float, default=60)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    report = run(
        cache_dir(args.cache),
        threads=args.threads,
        runs=args.runs,
        stream_runs=args.stream_runs,
        hour_runs=args.hour_runs,
        long_minutes=args.long_minutes,
    )
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
