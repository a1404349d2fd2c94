"""OpenVINO's ONNX Runtime execution provider, measured by the limit in its own interpreter.

`onnxruntime-openvino` installs the same `onnxruntime` module as the project's `cpu` extra, so it lives
in `.venv-ovep/` (`make bench-ovep`: the lock's onnx-asr, numpy and psutil, this wheel, no
`onnxruntime`), and `bench.limit` runs this module there as its child. It loads the same ONNX files as
the ORT configurations through onnx-asr with the service's session options, the provider on the CPU
device with the service's OpenVINO properties (latency hint, f32 inference, the bench's threads), and
its own compiled-model cache. The service does not gain a runtime: this is a measurement.

    .venv-ovep/bin/python -m bench.ovep --child ort-ovep-fp32 --model-dir DIR [--placement] ...
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.common import Json, speech_like
from bench.configs import BY_LABEL, OVEP, BenchConfig
from bench.timing import measure_child

if TYPE_CHECKING:
    from onnx_asr.adapters import TimestampedResultsAsrAdapter

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv-ovep"
CACHE_DIR = "ovep-cache"  # beside the model, like the service's openvino-cache
PLACEMENT_SECONDS = 5.0


def interpreter() -> Path:
    return VENV / "bin" / "python"


def require_interpreter() -> Path:
    """The venv's interpreter; a clear error where `make bench-ovep` has not built it."""
    python = interpreter()
    if not python.exists():
        raise SystemExit(
            f"{python} is missing: `make bench-ovep` builds it (`make bench` does), "
            "or the ort-ovep configurations cannot be measured."
        )
    return python


def provider_options(threads: int, cache_dir: Path) -> dict[str, str]:
    """The provider on the CPU device with the properties the service gives OpenVINO's own runtime."""
    properties = {
        "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_PRECISION_HINT": "f32",
        "INFERENCE_NUM_THREADS": str(threads),
    }
    return {"device_type": "CPU", "load_config": json.dumps({"CPU": properties}), "cache_dir": str(cache_dir)}


def placement(events: Iterable[dict[str, Any]]) -> Json:
    """Per provider, from an ONNX Runtime profile: nodes run, their share of kernel time, their op types
    (the provider's fused subgraphs under one name)."""
    nodes: dict[str, int] = defaultdict(int)
    micros: dict[str, int] = defaultdict(int)
    ops: dict[str, set[str]] = defaultdict(set)
    for event in events:
        if event.get("cat") != "Node" or not str(event.get("name", "")).endswith("_kernel_time"):
            continue
        provider, op = event["args"]["provider"], event["args"]["op_name"]
        nodes[provider] += 1
        micros[provider] += int(event["dur"])
        ops[provider].add("OpenVINO-EP-subgraph" if op.startswith("OpenVINO-EP-subgraph") else op)
    total = max(sum(micros.values()), 1)
    return {
        p: {"nodes": nodes[p], "time_share": round(micros[p] / total, 3), "ops": sorted(ops[p])}
        for p in sorted(nodes)
    }


def check_on_provider(active: list[str], where: Mapping[str, object]) -> None:
    """Fail loudly where ONNX Runtime fell back to its CPU provider instead of OpenVINO's."""
    if not active or active[0] != OVEP:
        raise SystemExit(f"ONNX Runtime did not start {OVEP} (session providers: {active})")
    if where and OVEP not in where:
        raise SystemExit(f"no node ran on {OVEP}: {where}")


def load(
    model_dir: Path, model: str, config: BenchConfig, threads: int, *, profile: bool
) -> TimestampedResultsAsrAdapter:
    import onnx_asr

    from gigaam_api.engines.gigaam.onnxruntime import session_options

    options = session_options(threads)
    options.enable_profiling = profile
    options.profile_file_prefix = str(Path(tempfile.gettempdir()) / "gigaam-bench-ovep-profile")
    return onnx_asr.load_model(
        model,
        model_dir,
        quantization=config.choice().onnx_quantization,
        providers=[(OVEP, provider_options(threads, model_dir / CACHE_DIR))],
        sess_options=options,
        preprocessor_config={"max_concurrent_workers": 1},
    ).with_timestamps()


def _session(asr: TimestampedResultsAsrAdapter) -> Any:
    # onnx-asr keeps a CTC model's session as `_model` (as the service's CUDA check reads it).
    return asr.asr._model  # type: ignore[attr-defined]


def _child(args: argparse.Namespace, batches: list[int]) -> Json:
    import onnxruntime as ort

    config = BY_LABEL[args.child]
    loaded: list[TimestampedResultsAsrAdapter] = []

    def load_checked() -> TimestampedResultsAsrAdapter:
        asr = load(args.model_dir, args.model, config, args.threads, profile=args.placement)
        check_on_provider(_session(asr).get_providers(), {})  # before any timing
        loaded.append(asr)
        return asr

    result = measure_child(config.label, load_checked, batches=batches, runs=args.runs)
    session = _session(loaded[0])
    active: list[str] = session.get_providers()
    if args.placement:
        loaded[0].recognize([speech_like(PLACEMENT_SECONDS, 0)])
        profile = Path(session.end_profiling())
        where = placement(json.loads(profile.read_text(encoding="utf-8")))
        profile.unlink()
        check_on_provider(active, where)
        result["placement"] = where
    return result | {"providers": active, "onnxruntime_openvino": ort.__version__}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--child", required=True, choices=[c.label for c in BY_LABEL.values() if c.provider])
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--model", default="gigaam-v3-ctc")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batches", default="")
    parser.add_argument("--runs", type=int, default=0)
    parser.add_argument("--placement", action="store_true", help="profile one run: nodes per provider")
    args = parser.parse_args()
    print(json.dumps(_child(args, [int(b) for b in args.batches.split(",") if b])))


if __name__ == "__main__":
    main()
