"""The limit: raw engine throughput of the compute-equivalent model per runtime × precision, no service.

Each configuration runs in its own process (so its peak RSS is its own), loaded through the service's
`load_recognizer`, or for OpenVINO's ONNX Runtime execution provider (`ort-ovep-*`) through
`bench.ovep` in the `.venv-ovep` interpreter. Each measurement is one onnx-asr `recognize` call on a
batch of 20-s chunks, so it includes the numpy log-mel preprocessor and CTC decoding exactly as the
service pays them. Speed is x realtime: audio seconds per wall second (median over runs, after one
warm-up per configuration). For OpenVINO's int8 the IR is rebuilt once (conversion time); OpenVINO and
the execution provider are loaded once with an empty compiled-model cache and once with the cache
filled (cold start without / with the cache). Each configuration's text on the last batch is compared
with ORT fp32's.

    python -m bench.limit [--threads 2] [--batches 1,2,4,8] [--runs 3] [--json out.json] [--cache DIR]
                          [--configs ort-fp32,ort-ovep-fp32]
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from bench import ovep
from bench.common import Json, instruction_sets, machine_info, write_json
from bench.configs import (
    ALL,
    BY_LABEL,
    REFERENCE,
    BenchConfig,
    auto_label,
    available,
    not_measured,
    same_files,
)
from bench.fidelity import text_agreement
from bench.model import MODEL_NAME, ensure_model
from bench.timing import CHUNK_SECONDS, measure_child
from gigaam_api.engines.gigaam import ir, static_ir
from gigaam_api.engines.gigaam.loader import fp32_onnx_files, load_recognizer
from gigaam_api.engines.gigaam.openvino import CACHE_DIR
from gigaam_api.engines.gigaam.runtime import probe

ROOT = Path(__file__).resolve().parent.parent


def _child(model_dir: Path, config: BenchConfig, *, threads: int, batches: list[int], runs: int) -> Json:
    """In the child process: load through the service's loader, then time (`bench.timing`)."""
    return measure_child(
        config.label,
        lambda: load_recognizer(model_dir, MODEL_NAME, config.choice(), threads),
        batches=batches,
        runs=runs,
    )


def child_command(
    config: BenchConfig, model_dir: Path, *, threads: int, batches: list[int], placement: bool = False
) -> list[str]:
    """The service's runtimes in this interpreter; OpenVINO's execution provider in its own venv's."""
    python, module = (
        (str(ovep.interpreter()), "bench.ovep") if config.provider else (sys.executable, "bench.limit")
    )
    command = [python, "-m", module, "--child", config.label, "--model-dir", str(model_dir)]
    command += ["--threads", str(threads), "--batches", ",".join(map(str, batches))]
    return command + (["--placement"] if placement else [])


def _in_child(
    config: BenchConfig,
    model_dir: Path,
    *,
    threads: int,
    batches: list[int],
    runs: int,
    placement: bool = False,
) -> dict[str, Any]:
    command = child_command(config, model_dir, threads=threads, batches=batches, placement=placement)
    out = subprocess.run(
        [*command, "--runs", str(runs)], check=True, capture_output=True, text=True, cwd=ROOT
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def compiled_cache(model_dir: Path, config: BenchConfig) -> Path | None:
    """Where the configuration keeps compiled models: its load is measured without and with them."""
    if config.provider:
        return model_dir / ovep.CACHE_DIR
    return model_dir / CACHE_DIR if config.runtime == "openvino" else None


def build_ir(model_dir: Path) -> float:
    """Conversion time of the int8 IR from the fp32 ONNX file (any earlier build is removed first)."""
    shutil.rmtree(model_dir / ir.IR_DIR, ignore_errors=True)
    seconds = ir.ensure_int8_ir(model_dir, fp32_onnx_files(MODEL_NAME))
    assert seconds is not None
    return round(seconds, 1)


def build_static_ir(model_dir: Path, threads: int) -> static_ir.Verdict:
    """Build and judge the int8-static IR from scratch (child process): its build time and gate figures."""
    shutil.rmtree(model_dir / static_ir.STATIC_DIR, ignore_errors=True)
    verdict = static_ir.ensure_static_ir(model_dir, fp32_onnx_files(MODEL_NAME), "v3", threads)
    print(f"  int8-static: {verdict.reason}", flush=True)
    return verdict


def measure(
    model_dir: Path, configs: list[BenchConfig], *, threads: int, batches: list[int], runs: int
) -> list[Json]:
    results = []
    texts_by_label: dict[str, list[str]] = {}
    for config in configs:
        entry: Json = {"label": config.label, "runtime": config.runtime, "precision": config.precision}
        cache = compiled_cache(model_dir, config)
        if cache is not None:
            shutil.rmtree(cache, ignore_errors=True)
            cold = _in_child(
                config, model_dir, threads=threads, batches=[], runs=0, placement=bool(config.provider)
            )
            entry["load_seconds_no_cache"] = cold["load_seconds"]
            entry |= {k: cold[k] for k in ("placement",) if k in cold}
        measured = _in_child(config, model_dir, threads=threads, batches=batches, runs=runs)
        entry |= {
            "load_seconds": measured["load_seconds"],
            "peak_rss_mb": measured["peak_rss_mb"],
            "points": measured["points"],
        }
        entry |= {k: measured[k] for k in ("providers", "onnxruntime_openvino") if k in measured}
        texts_by_label[config.label] = texts = measured["texts"]
        reference, twin = texts_by_label.get(REFERENCE), same_files(config)
        if reference is not None and texts and config.label != REFERENCE:
            entry["text_vs_reference"] = text_agreement(reference, texts)
        if twin is not None and texts_by_label.get(twin.label) and texts:
            entry["text_vs_same_files"] = {
                "label": twin.label,
                **text_agreement(texts_by_label[twin.label], texts),
            }
        points: list[dict[str, Any]] = measured["points"]
        speeds = ", ".join(f"batch {p['batch']}: {p['realtime']:.1f}x" for p in points)
        print(
            f"  {config.label}: {speeds}; load {entry['load_seconds']} s, peak RSS {entry['peak_rss_mb']} MB"
        )
        results.append(entry)
    return results


def run(
    *,
    threads: int = 2,
    batches: list[int] | None = None,
    runs: int = 3,
    cache: Path | None = None,
    only: list[str] | None = None,
) -> Json:
    """Build the model (and its int8 IR) if needed, measure every configuration, return the document."""
    batches = batches or [1, 2, 4, 8]
    built = ensure_model(cache)
    machine = machine_info(threads)
    print(f"  CPU: {machine['cpu']}; instruction sets: {' '.join(instruction_sets())}", flush=True)
    facts = probe(int8_ir_ready=True)  # built below where a configuration needs it
    configs = [c for c in available(facts) if not only or c.label in only]
    if any(c.provider for c in configs):
        ovep.require_interpreter()
    conversion: Json = {}
    if any(c.choice().int8_ir for c in configs):
        print("  building the int8 OpenVINO IR (NNCF)", flush=True)
        conversion["ir_conversion_seconds"] = build_ir(built.path)
    if any(c.precision == "int8-static" for c in configs):
        print("  building the int8-static OpenVINO IR (NNCF, calibration and fidelity gate)", flush=True)
        verdict = build_static_ir(built.path, threads)
        conversion["static_ir"] = asdict(verdict)
        # What `auto` runs after `gigaam-api download` has built (and judged) it, as the docs tell users.
        facts = replace(facts, int8_static="accepted" if verdict.accepted else "refused")
        if not verdict.accepted:  # the IR is not kept: nothing to measure
            configs = [c for c in configs if c.precision != "int8-static"]
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
        "cpu_vnni": facts.vnni,
        "auto": auto_label(facts),
        **conversion,
        "not_measured": not_measured(facts.architecture),
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
    parser.add_argument(
        "--configs", default="", help="comma-separated configurations (default: all this machine runs)"
    )
    parser.add_argument("--child", choices=[c.label for c in ALL if c.service], help=argparse.SUPPRESS)
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
    only = [c for c in args.configs.split(",") if c]
    result = run(threads=args.threads, batches=batches, runs=args.runs, cache=args.cache, only=only)
    if args.json:
        write_json(args.json, result)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
