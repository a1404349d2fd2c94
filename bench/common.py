"""Shared helpers for the benchmark: cache location, ONNX Runtime options, JSON results, machine info."""

import json
import os
import platform
from importlib.metadata import version
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime as rt
import psutil

CACHE_ENV = "GIGAAM_BENCH_CACHE"
DEFAULT_CACHE = Path.home() / ".cache" / "gigaam-api-bench"
SAMPLE_RATE = 16_000

Json = dict[str, object]


def cache_dir(override: Path | None = None) -> Path:
    """Benchmark cache: the override, else $GIGAAM_BENCH_CACHE, else ~/.cache/gigaam-api-bench."""
    if override is not None:
        return override
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else DEFAULT_CACHE


def session_options(threads: int) -> rt.SessionOptions:
    """CPU session options the way the service runs the model: one op at a time, `threads` inside it."""
    options = rt.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return options


# The instruction sets the runtimes' kernels choose between (int8 dot products, bf16, wide vectors).
INSTRUCTION_SETS = (
    "avx2",
    "fma",
    "avx_vnni",
    "avx512f",
    "avx512_vnni",
    "avx512_bf16",
    "amx_int8",
    "amx_bf16",
)


def instruction_sets() -> list[str]:
    """Which of INSTRUCTION_SETS this CPU reports (arm64: its `Features`, e.g. asimddp, i8mm)."""
    from gigaam_api.engines.gigaam.runtime import read_cpu_flags

    flags = read_cpu_flags()
    return [f for f in INSTRUCTION_SETS if f in flags] or sorted(
        flags & {"asimd", "asimddp", "i8mm", "bf16", "sve"}
    )


def machine_info(threads: int) -> Json:
    """What the numbers depend on; the load average tells a reader whether the box was busy."""
    return {
        "cpu": _cpu_model(),
        "cpu_instruction_sets": instruction_sets(),
        "logical_cores": psutil.cpu_count(logical=True),
        "physical_cores": psutil.cpu_count(logical=False),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "intra_op_threads": threads,
        "inter_op_threads": 1,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "onnxruntime": rt.__version__,
        "openvino": version("openvino"),
        "onnx_asr": version("onnx-asr"),
        "numpy": version("numpy"),
    }


def write_json(path: Path, data: Json) -> None:
    """Write a result file (parents created), pretty-printed for diffs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def read_json(path: Path) -> Json:
    """Read a result file written by write_json."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return data


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def speech_like(seconds: float, seed: int) -> npt.NDArray[np.float32]:
    """16 kHz voiced-ish audio: harmonics of a wandering pitch under a syllable-rate envelope, plus noise.

    Content does not change the model's compute; this only keeps the input in a realistic range.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    pitch = 120 + 30 * np.sin(2 * np.pi * 0.3 * t + rng.uniform(0, 2 * np.pi))
    phase = 2 * np.pi * np.cumsum(pitch) / SAMPLE_RATE
    harmonics = np.arange(1, 12)[:, None]
    voiced = (np.sin(harmonics * phase) / harmonics).sum(axis=0)
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(3, 5) * t) ** 2
    signal = 0.1 * envelope * voiced + 0.01 * rng.standard_normal(t.size)
    return np.asarray(signal, dtype=np.float32)
