"""Inference streams: the full-size engine on one and two cores, and two jobs on one or two streams.

Each case runs in its own process pinned with `taskset` (`-c 0` or `-c 0,1`), loaded through the service's
`load_recognizers` and driven through its `GigaamEngine` and `InferenceScheduler` with the stream count
and threads of the case. A job is a ticket whose 20-s chunks are transcribed one after another (one chunk
per batch, as BATCH_SECONDS=22 makes them); the jobs of a case start together. Speed is x realtime: the
audio seconds of all jobs per wall second (median over runs, after one untimed round). The cases:

- one job on one core with one thread, then on two cores with two threads: the scaling from 1 to 2 cores;
- one job on two cores as two streams of one thread: what a job alone loses to streams;
- two jobs on two cores, as one stream of two threads (they take turns) and as two streams of one thread
  (side by side).

The many-core figures are a model, not a measurement: Amdahl's law fitted to the 1- and 2-core speeds
(`model`), printed with the stream plan `auto` picks for each machine size.

    python -m bench.streams [--configs ov-int8,ort-int8] [--chunks 6] [--runs 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from bench.common import Json, instruction_sets, machine_info, speech_like, write_json
from bench.configs import BY_LABEL, BenchConfig, auto_label
from bench.model import MODEL_NAME, ensure_model
from bench.timing import CHUNK_SECONDS, peak_rss_kib
from gigaam_api.cpus import StreamPlan, plan_streams

if TYPE_CHECKING:
    from gigaam_api.engines.base import ASREngine
    from gigaam_api.pipeline.scheduler import InferenceScheduler

ROOT = Path(__file__).resolve().parent.parent
# The service runs numpy (features, decoding) on one thread: the inference threads own the cores.
CHILD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
MODELLED_CPUS = (2, 4, 8, 16, 32, 64)


@dataclass(frozen=True)
class Case:
    name: str
    cpus: str  # taskset's CPU list
    threads: int  # per stream
    streams: int
    jobs: int


CASES = (
    Case("1 core, 1 thread, one job", "0", 1, 1, 1),
    Case("2 cores, 2 threads, one job", "0,1", 2, 1, 1),
    Case("2 cores, 2 streams x 1 thread, one job", "0,1", 1, 2, 1),
    Case("2 cores, 1 stream x 2 threads, two jobs", "0,1", 2, 1, 2),
    Case("2 cores, 2 streams x 1 thread, two jobs", "0,1", 1, 2, 2),
)


def _engine(model_dir: Path, config: BenchConfig, plan: StreamPlan) -> ASREngine:
    """The service's GigaAM engine for `plan`, as `adapter.create` builds it (without the settings)."""
    from gigaam_api.engines.base import Capabilities, ChunkPolicy
    from gigaam_api.engines.gigaam.adapter import GigaamEngine, read_vocab
    from gigaam_api.engines.gigaam.catalog import MODELS
    from gigaam_api.engines.gigaam.loader import load_recognizers

    choice = config.choice()
    recognizers = load_recognizers(model_dir, MODEL_NAME, choice, plan)
    caps = Capabilities(
        model_id=MODEL_NAME,
        chunks=ChunkPolicy(30.0, preferred_seconds=22.0, whole=False),
        languages=frozenset({"ru"}),
        word_timestamps=True,
        token_logprobs=True,
        device="cpu",
        runtime=choice.runtime,
        precision=choice.precision,
        parallel_calls=True,
        streams=plan.streams,
    )
    return GigaamEngine(recognizers, read_vocab(model_dir / MODELS[MODEL_NAME].vocab), caps)


def run_jobs(scheduler: InferenceScheduler, engine: ASREngine, jobs: int, chunks: int) -> list[float]:
    """Start `jobs` tickets together, each transcribing `chunks` 20-s chunks in turn; each one's seconds."""
    from gigaam_api.engines.base import EngineOptions

    audio = [speech_like(CHUNK_SECONDS, seed) for seed in range(jobs)]
    finished = [0.0] * jobs
    start = threading.Barrier(jobs + 1)
    began = 0.0

    def job(index: int) -> None:
        ticket = scheduler.open_ticket(interactive=False)
        start.wait()
        try:
            for _ in range(chunks):
                work = partial(engine.transcribe_batch, [audio[index]], EngineOptions())
                scheduler.submit(ticket, work).result()
        finally:
            scheduler.close_ticket(ticket)
        finished[index] = time.perf_counter() - began

    threads = [threading.Thread(target=job, args=(i,)) for i in range(jobs)]
    for thread in threads:
        thread.start()
    began = time.perf_counter()
    start.wait()
    for thread in threads:
        thread.join()
    return finished


def _child(model_dir: Path, config: BenchConfig, case: Case, *, chunks: int, runs: int) -> Json:
    from gigaam_api.pipeline.scheduler import InferenceScheduler

    loading = time.perf_counter()
    engine = _engine(model_dir, config, StreamPlan(case.streams, case.threads))
    result: Json = {"load_seconds": round(time.perf_counter() - loading, 2)}
    scheduler = InferenceScheduler(streams=case.streams)
    try:
        run_jobs(scheduler, engine, case.jobs, 1)  # untimed: first calls, kernels for this length
        rounds = [run_jobs(scheduler, engine, case.jobs, chunks) for _ in range(runs)]
    finally:
        scheduler.stop()
    audio = case.jobs * chunks * CHUNK_SECONDS
    walls = [max(jobs) for jobs in rounds]
    result["realtime"] = round(audio / statistics.median(walls), 2)
    result["runs_realtime"] = [round(audio / wall, 2) for wall in walls]
    # Each job's own speed (its audio over the time it took, from the common start), median over runs.
    result["per_job_realtime"] = [
        round(chunks * CHUNK_SECONDS / statistics.median(r[i] for r in rounds), 2) for i in range(case.jobs)
    ]
    result["peak_rss_mb"] = round(peak_rss_kib() / 1024)
    return result


def _in_child(model_dir: Path, config: BenchConfig, case: Case, *, chunks: int, runs: int) -> Json:
    command = ["taskset", "-c", case.cpus, sys.executable, "-m", "bench.streams", "--child", config.label]
    command += ["--case", case.name, "--model-dir", str(model_dir), "--chunks", str(chunks)]
    command += ["--runs", str(runs)]
    out = subprocess.run(
        command, check=True, capture_output=True, text=True, cwd=ROOT, env={**os.environ, **CHILD_ENV}
    )
    result: Json = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def model(one_core: float, two_cores: float, cpus: tuple[int, ...] = MODELLED_CPUS) -> Json:
    """Amdahl's law through the two measured points: the serial share `p` of a chunk's work (one thread's
    speed r1, two threads' r2: r2 / r1 = 1 / (p + (1 - p) / 2)), then for each machine size the speed of a
    job alone on one stream of every thread, on `auto`'s plan, and the plan's total with a job per stream.
    Memory bandwidth, caches and SMT are left out: an estimate to check on such a machine, not a claim."""
    p = min(1.0, max(0.0, 2 * one_core / two_cores - 1))

    def speed(threads: int) -> float:
        return one_core / (p + (1 - p) / threads)

    rows: list[Json] = []
    for count in cpus:
        plan = plan_streams(count, "auto", parallel_calls=True)
        rows.append(
            {
                "cpus": count,
                "auto_streams": plan.streams,
                "threads_per_stream": plan.threads,
                "one_job_one_stream_realtime": round(speed(count), 1),
                "one_job_auto_realtime": round(speed(plan.threads), 1),
                "job_per_stream_auto_total_realtime": round(plan.streams * speed(plan.threads), 1),
            }
        )
    return {"serial_share": round(p, 3), "rows": rows}


def run(configs: list[BenchConfig], *, chunks: int, runs: int, cache: Path | None) -> Json:
    if not {0, 1} <= os.sched_getaffinity(0):
        raise SystemExit("bench.streams pins its cases to CPUs 0 and 1: run it where both are allowed")
    built = ensure_model(cache)
    machine = machine_info(2)
    print(f"  CPU: {machine['cpu']}; instruction sets: {' '.join(instruction_sets())}", flush=True)
    if any(c.choice().int8_ir for c in configs):
        from gigaam_api.engines.gigaam.ir import ensure_int8_ir
        from gigaam_api.engines.gigaam.loader import fp32_onnx_files

        ensure_int8_ir(built.path, fp32_onnx_files(MODEL_NAME))  # once, before the pinned children
    results = []
    for config in configs:
        cases: list[Json] = []
        speeds: list[float] = []
        for case in CASES:
            figures = _in_child(built.path, config, case, chunks=chunks, runs=runs)
            cases.append({**asdict(case), **figures})
            speeds.append(float(str(figures["realtime"])))
            print(
                f"  {config.label}: {case.name}: {figures['realtime']}x realtime "
                f"(each job {figures['per_job_realtime']}), peak RSS {figures['peak_rss_mb']} MB",
                flush=True,
            )
        modelled = model(speeds[0], speeds[1])
        print(f"  {config.label}: 1 -> 2 cores x{speeds[1] / speeds[0]:.2f}; model: {json.dumps(modelled)}")
        results.append({"label": config.label, "cases": cases, "model": modelled})
    machine["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    return {
        "kind": "streams",
        "model": {"name": MODEL_NAME, "weights": "random, compute-equivalent", "params": built.params},
        "chunk_seconds": CHUNK_SECONDS,
        "chunks_per_job": chunks,
        "runs": runs,
        "machine": machine,
        "results": results,
    }


def default_configs() -> list[BenchConfig]:
    """What `auto` runs here, and ONNX Runtime int8 (a session per stream) when that is another."""
    from gigaam_api.engines.gigaam.runtime import probe

    labels = dict.fromkeys([auto_label(probe(int8_ir_ready=True)), "ort-int8"])
    return [BY_LABEL[label] for label in labels]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--configs", default="", help="comma-separated configurations (default: auto's, ort-int8)"
    )
    parser.add_argument("--chunks", type=int, default=6, help="20-s chunks per job (default 6)")
    parser.add_argument("--runs", type=int, default=3, help="timed rounds per case (default 3)")
    parser.add_argument("--json", type=Path, help="write the result document here")
    parser.add_argument(
        "--cache", type=Path, help="model cache dir (default $GIGAAM_BENCH_CACHE or ~/.cache)"
    )
    services = [label for label, config in BY_LABEL.items() if config.service]
    parser.add_argument("--child", choices=services, help=argparse.SUPPRESS)
    parser.add_argument("--case", choices=[c.name for c in CASES], help=argparse.SUPPRESS)
    parser.add_argument("--model-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        case = next(c for c in CASES if c.name == args.case)
        print(
            json.dumps(_child(args.model_dir, BY_LABEL[args.child], case, chunks=args.chunks, runs=args.runs))
        )
        return
    configs = [BY_LABEL[c] for c in args.configs.split(",") if c] or default_configs()
    labels = ", ".join(c.label for c in configs)
    print(
        f"streams: {CHUNK_SECONDS:.0f}-s chunks, {args.chunks} per job, {args.runs} runs, {labels}",
        flush=True,
    )
    document = run(configs, chunks=args.chunks, runs=args.runs, cache=args.cache)
    if args.json:
        write_json(args.json, document)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
