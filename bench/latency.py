"""`python -m bench.latency [--baseline DIR]`: start-up and first-text figures, this tree beside another.

The three figures the engines issue profiled after `make bench` missed them, for the default
configuration: cold start to `/ready`, the first segment of the 1-hour stream after its upload ends
(the stream is dropped at that segment, which cancels the run), and the VAD alone on one core. With
`--baseline`, the same figures for another checkout of the code (`git worktree add DIR <commit>`), run
by the same interpreter and packages in the same sitting, with and without compiled bytecode.
Writes docs/latency.json; medians of `--runs`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.common import cache_dir, machine_info, write_json
from bench.model import ensure_model
from bench.recordings import recording
from bench.service import serve

ROOT = Path(__file__).resolve().parent.parent

VAD_SCRIPT = """
import os, sys, time
os.environ["OPENBLAS_NUM_THREADS"] = "1"
from pathlib import Path
from gigaam_api.audio.decode import decode_all
from gigaam_api.vad.silero import SileroVad
audio = decode_all(Path(sys.argv[1]), max_seconds=24 * 3600)
vad = SileroVad(num_threads=1)
vad.probabilities(audio)
for _ in range(int(sys.argv[2])):
    started = time.perf_counter()
    vad.probabilities(audio)
    print(len(audio) / 16000 / (time.perf_counter() - started))
"""


def first_segment_after_upload(url: str, path: Path) -> float:
    """Seconds from the end of the upload to the first segment event; then the stream is dropped."""
    finished: list[float] = []

    def body() -> Any:
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                yield chunk
        finished.append(time.monotonic())

    boundary = "latencybench"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="stream"\r\n\r\ntrue\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n'
        "Content-Type: audio/wav\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()

    def multipart() -> Any:
        yield head
        yield from body()
        yield tail

    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    with (
        httpx.Client(timeout=600) as http,
        http.stream("POST", f"{url}/v1/audio/transcriptions", content=multipart(), headers=headers) as r,
    ):
        r.raise_for_status()
        for line in r.iter_lines():
            if '"transcript.text.segment"' in line:
                return time.monotonic() - finished[0]
    raise RuntimeError("the stream ended without a segment")


def measure(
    code: Path, *, compiled: bool, runs: int, models_dir: Path, files: dict[str, Path]
) -> dict[str, Any]:
    env: dict[str, str] = {"PYTHONPATH": str(code)}
    if compiled:
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(code / "gigaam_api")], check=True)
    here = Path.cwd()
    os.chdir(code)  # `python -m gigaam_api` imports from the working directory first
    try:
        return _measure(env, compiled=compiled, runs=runs, models_dir=models_dir, files=files)
    finally:
        os.chdir(here)


def _measure(
    env: dict[str, str], *, compiled: bool, runs: int, models_dir: Path, files: dict[str, Path]
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as empty:
        if not compiled:  # no .pyc is found there, and none is written: every start compiles the sources
            env |= {"PYTHONPYCACHEPREFIX": empty, "PYTHONDONTWRITEBYTECODE": "1"}
        starts, firsts = [], []
        for _ in range(runs):
            with serve(models_dir, threads=2, **env) as server:
                starts.append(server.cold_start_seconds)
                firsts.append(first_segment_after_upload(server.url, files["1h"]))
        vad = subprocess.run(
            [sys.executable, "-c", VAD_SCRIPT, str(files["10min"]), str(runs)],
            env={**os.environ, **env},
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()
    return {
        "cold_start_seconds": round(statistics.median(starts), 2),
        "cold_start_runs": [round(s, 2) for s in starts],
        "first_segment_1h_stream_seconds": round(statistics.median(firsts), 2),
        "first_segment_runs": [round(s, 2) for s in firsts],
        "vad_realtime": round(statistics.median(float(v) for v in vad)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--baseline", type=Path, help="another checkout of the code to measure beside")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "latency.json")
    args = parser.parse_args()

    cache = cache_dir()
    models_dir = ensure_model(cache).path.parent
    files = {"1h": recording(cache, 60), "10min": recording(cache, 10)}
    trees = [("this tree", ROOT)] + ([("baseline", args.baseline.resolve())] if args.baseline else [])
    results: dict[str, Any] = {}
    for name, code in trees:
        for compiled in (True, False):
            label = f"{name}, {'compiled' if compiled else 'no'} bytecode"
            print(f"== {label}", flush=True)
            results[label] = measure(
                code, compiled=compiled, runs=args.runs, models_dir=models_dir, files=files
            )
            print(json.dumps(results[label]), flush=True)
    report: dict[str, object] = {
        "machine": machine_info(2),
        "configuration": "default (auto)",
        "results": results,
    }
    write_json(args.out, report)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
