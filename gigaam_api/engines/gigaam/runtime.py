"""Which runtime, device and precision run the model: settings plus machine facts → one `RuntimeChoice`.

`choose` is pure (facts in, choice or `RuntimeSelectionError` out) so every branch is unit-tested with
made-up machines; `probe` gathers the real facts and is the only place that imports inference libraries.

`auto` runs the fastest measured configuration whose fidelity is at least ONNX Runtime int8's
(docs/decisions.md): on x86-64 CPUs with AVX-512 VNNI, OpenVINO with int8 weights and activations
(`int8-static`, once built and accepted by its fidelity gate: its build takes minutes, so `auto` never
waits for it; `gigaam-api download` builds it); with AVX-512 otherwise or until then,
OpenVINO with the int8 weight-only IR and f32 inference; elsewhere (AVX2-only x86, arm64), or where
the IR can be neither found nor built, ONNX Runtime int8, which OpenVINO did not beat there. bf16
inference is never chosen automatically: its agreement with fp32 is below ONNX Runtime int8's. On an
NVIDIA GPU, ONNX Runtime's CUDA provider, fp32.
"""

from __future__ import annotations

import functools
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from gigaam_api.engine_settings.gigaam import DeviceSetting, PrecisionSetting, RuntimeSetting
from gigaam_api.engines.base import RuntimeSelectionError

Runtime = Literal["onnxruntime", "openvino"]
Device = Literal["cpu", "cuda", "gpu"]
Precision = Literal["fp32", "int8", "int8-static", "bf16", "int8-bf16", "fp16"]

CUDA_PROVIDER: Final = "CUDAExecutionProvider"
CPU_PROVIDER: Final = "CPUExecutionProvider"

# Per device, what each runtime can run. ORT int8 is the hub's dynamically quantized files.
_SUPPORTED: Final[dict[tuple[Runtime, Device], tuple[Precision, ...]]] = {
    ("onnxruntime", "cpu"): ("fp32", "int8"),
    ("onnxruntime", "cuda"): ("fp32",),
    ("openvino", "cpu"): ("fp32", "int8", "int8-static", "bf16", "int8-bf16"),
    ("openvino", "gpu"): ("fp32", "int8", "fp16"),
}


@dataclass(frozen=True, slots=True)
class MachineFacts:
    """What the machine offers, as `probe` finds it (or as a test makes it up)."""

    architecture: str  # normalised `platform.machine()`: x86_64, arm64, ...
    cpu_flags: frozenset[str]  # /proc/cpuinfo flags; empty where unknown (not Linux)
    ort_providers: tuple[str, ...]  # onnxruntime.get_available_providers(); empty if not installed
    openvino_devices: tuple[str, ...]  # openvino.Core().available_devices: CPU, GPU, GPU.0, NPU ...
    openvino_bf16: bool  # OpenVINO's CPU plugin reports BF16 among its optimisation capabilities
    nvidia_gpu: bool  # the NVIDIA driver exposes at least one GPU
    nncf_installed: bool  # the `convert` extra: the int8 IR can be built here
    int8_ir_ready: bool  # a current int8 IR for this model is already on disk
    # The static int8 IR's fidelity gate on this model's files, None before its first build.
    int8_static: Literal["accepted", "refused"] | None = None

    @property
    def avx512(self) -> bool:
        return "avx512f" in self.cpu_flags

    @property
    def vnni(self) -> bool:
        """AVX-512 VNNI (or AMX): int8 dot products at four times the f32 rate per lane."""
        return "avx512_vnni" in self.cpu_flags or "amx_int8" in self.cpu_flags

    @property
    def int8_ir_possible(self) -> bool:
        return self.int8_ir_ready or self.nncf_installed

    @property
    def intel_gpu(self) -> bool:
        return any(d == "GPU" or d.startswith("GPU.") for d in self.openvino_devices)


@dataclass(frozen=True, slots=True)
class RuntimeChoice:
    runtime: Runtime
    device: Device
    precision: Precision
    reason: str

    @property
    def onnx_quantization(self) -> str | None:
        """The hub weight files' suffix: only ONNX Runtime int8 reads the `.int8.onnx` files."""
        return "int8" if (self.runtime, self.precision) == ("onnxruntime", "int8") else None

    @property
    def int8_ir(self) -> bool:
        """Whether OpenVINO loads the int8 weight-only IR (built from the fp32 ONNX files)."""
        return self.runtime == "openvino" and self.precision in ("int8", "int8-bf16")

    @property
    def inference_precision(self) -> str:
        """OpenVINO's INFERENCE_PRECISION_HINT for this precision."""
        if self.precision.endswith("bf16"):
            return "bf16"
        return "f16" if self.precision == "fp16" else "f32"

    def describe(self) -> str:
        return f"{self.runtime} on {self.device}, {self.precision} ({self.reason})"


def choose(
    runtime: RuntimeSetting, device: DeviceSetting, precision: PrecisionSetting, facts: MachineFacts
) -> RuntimeChoice:
    """The configuration to run; raises RuntimeSelectionError when an explicit setting cannot be met."""
    if device == "cuda":
        return _cuda(runtime, precision, facts, "GIGAAM_DEVICE=cuda")
    if device == "gpu":
        return _intel_gpu(runtime, precision, facts)
    if device == "auto" and _cuda_usable(facts) and runtime != "openvino" and precision in ("auto", "fp32"):
        return _cuda(runtime, precision, facts, "auto: NVIDIA GPU with ONNX Runtime's CUDA provider")
    return _cpu(runtime, precision, facts)


def _cuda_usable(facts: MachineFacts) -> bool:
    return CUDA_PROVIDER in facts.ort_providers and facts.nvidia_gpu


def _cuda(
    runtime: RuntimeSetting, precision: PrecisionSetting, facts: MachineFacts, why: str
) -> RuntimeChoice:
    if runtime == "openvino":
        raise RuntimeSelectionError(
            "GIGAAM_DEVICE=cuda runs on ONNX Runtime; GIGAAM_RUNTIME=openvino cannot use it "
            "(OpenVINO's GPU device is Intel's: GIGAAM_DEVICE=gpu)."
        )
    if CUDA_PROVIDER not in facts.ort_providers:
        raise RuntimeSelectionError(
            "GIGAAM_DEVICE=cuda, but the installed ONNX Runtime has no CUDAExecutionProvider: install the "
            'GPU build (`make run EXTRAS="cuda convert"` or `uv sync --extra cuda`) on a machine with an '
            "NVIDIA GPU, or set GIGAAM_DEVICE=auto/cpu."
        )
    if not facts.nvidia_gpu:
        raise RuntimeSelectionError(
            "GIGAAM_DEVICE=cuda, but no usable NVIDIA GPU was found (no GPU under /proc/driver/nvidia/gpus: "
            "check the driver and, in Docker, `--gpus all`), or set GIGAAM_DEVICE=auto/cpu."
        )
    return RuntimeChoice(
        "onnxruntime", "cuda", _precision(precision, "onnxruntime", "cuda", default="fp32"), why
    )


def _intel_gpu(runtime: RuntimeSetting, precision: PrecisionSetting, facts: MachineFacts) -> RuntimeChoice:
    if runtime == "onnxruntime":
        raise RuntimeSelectionError(
            "GIGAAM_DEVICE=gpu (Intel GPU) runs on OpenVINO; set GIGAAM_RUNTIME=openvino or auto "
            "(for NVIDIA GPUs use GIGAAM_DEVICE=cuda)."
        )
    if not facts.intel_gpu:
        found = ", ".join(facts.openvino_devices) or "none"
        raise RuntimeSelectionError(
            f"GIGAAM_DEVICE=gpu, but OpenVINO sees no Intel GPU (devices: {found}); install the Intel GPU "
            "driver (intel-opencl-icd) and, in Docker, pass /dev/dri, or set GIGAAM_DEVICE=auto/cpu."
        )
    chosen = _precision(precision, "openvino", "gpu", default="fp16")
    _require_ir(chosen, facts)
    why = "GIGAAM_DEVICE=gpu"
    if precision == "auto":
        why += "; fp16, the GPU's native precision"
    return RuntimeChoice("openvino", "gpu", chosen, why)


def _cpu(runtime: RuntimeSetting, precision: PrecisionSetting, facts: MachineFacts) -> RuntimeChoice:
    openvino_cpu = "CPU" in facts.openvino_devices
    if runtime == "onnxruntime":
        return _onnxruntime_cpu(precision, facts, "GIGAAM_RUNTIME=onnxruntime")
    if runtime == "openvino" or precision in ("bf16", "int8-bf16"):
        if not openvino_cpu:
            asked = "GIGAAM_RUNTIME=openvino" if runtime == "openvino" else f"GIGAAM_PRECISION={precision}"
            raise RuntimeSelectionError(
                f"{asked} needs OpenVINO's CPU device, which OpenVINO does not report here."
            )
        why = (
            "GIGAAM_RUNTIME=openvino"
            if runtime == "openvino"
            else f"GIGAAM_PRECISION={precision} runs on OpenVINO"
        )
        return _openvino_cpu(precision, facts, why)
    if openvino_cpu and _openvino_preferred(facts):
        if precision == "fp32" or facts.int8_ir_possible or int8_static_preferred(facts):
            return _openvino_cpu(precision, facts, _why_openvino(facts))
        return _onnxruntime_cpu(precision, facts, f"auto: {_NO_CONVERTER}")
    return _onnxruntime_cpu(precision, facts, _why_not_openvino(facts))


def _openvino_cpu(precision: PrecisionSetting, facts: MachineFacts, why: str) -> RuntimeChoice:
    if precision == "auto" and int8_static_preferred(facts):
        return RuntimeChoice("openvino", "cpu", "int8-static", f"{why}; {INT8_STATIC_WHY}")
    if precision == "auto" and not facts.int8_ir_possible:
        return RuntimeChoice("openvino", "cpu", "fp32", f"{why}; {_NO_CONVERTER}")
    if precision == "int8-static" and not (facts.int8_static == "accepted" or facts.nncf_installed):
        raise RuntimeSelectionError(
            "GIGAAM_PRECISION=int8-static needs its IR, which is not on disk, and NNCF is not installed to "
            "build it: install the `convert` extra, or run `gigaam-api download` where it is and copy "
            "MODELS_DIR."
        )
    chosen = _precision(precision, "openvino", "cpu", default="int8")
    _require_ir(chosen, facts)
    if chosen.endswith("bf16") and not facts.openvino_bf16:
        raise RuntimeSelectionError(
            f"GIGAAM_PRECISION={chosen} needs a CPU with bf16 instructions (AVX512_BF16 or AMX); OpenVINO "
            "reports none here. Use GIGAAM_PRECISION=int8 or fp32."
        )
    if precision == "auto":
        why += "; int8 weight-only with f32 inference: fastest at no less than ONNX Runtime int8's fidelity"
        if int8_static_buildable(facts):
            why += f"; {INT8_STATIC_NOT_BUILT}"
    return RuntimeChoice("openvino", "cpu", chosen, why)


_NO_CONVERTER = (
    "no int8 IR on disk and NNCF (the `convert` extra) is not installed to build it; "
    "run `gigaam-api download` where it is"
)


INT8_STATIC_WHY: Final = (
    "int8 weights and activations (VNNI), fastest, kept only at no less than ONNX Runtime int8's fidelity"
)


INT8_STATIC_NOT_BUILT: Final = (
    "int8 arithmetic (int8-static) would be faster on this CPU but is not built: `gigaam-api download` "
    "builds it (minutes, several GB), and the next start runs it"
)


def int8_static_preferred(facts: MachineFacts) -> bool:
    """Where `auto` runs int8 arithmetic: VNNI, and the IR built and accepted by its fidelity gate.
    Never an IR still to build: NNCF takes minutes and GBs, which a start with `auto` must not wait for."""
    return facts.vnni and facts.int8_static == "accepted"


def int8_static_buildable(facts: MachineFacts) -> bool:
    """Where `auto` would run int8 arithmetic once `gigaam-api download` has built it (if the gate agrees)."""
    return facts.vnni and facts.int8_static is None and facts.nncf_installed


def _openvino_preferred(facts: MachineFacts) -> bool:
    """Where OpenVINO's CPU plugin measured faster than ONNX Runtime: x86-64 with AVX-512."""
    return facts.architecture == "x86_64" and facts.avx512


def _why_openvino(facts: MachineFacts) -> str:
    bf16 = ", bf16 capable" if facts.openvino_bf16 else ""
    return f"auto: x86-64 CPU with AVX-512{bf16}, where OpenVINO measured fastest"


def _onnxruntime_cpu(precision: PrecisionSetting, facts: MachineFacts, why: str) -> RuntimeChoice:
    if CPU_PROVIDER not in facts.ort_providers:
        raise RuntimeSelectionError(
            "ONNX Runtime is not installed: install the `cpu` extra (`uv sync --extra cpu`), "
            "or the `cuda` one for NVIDIA GPUs."
        )
    chosen = _precision(precision, "onnxruntime", "cpu", default="int8")
    if precision == "auto":
        why += "; int8, its fastest precision"
    return RuntimeChoice("onnxruntime", "cpu", chosen, why)


def _why_not_openvino(facts: MachineFacts) -> str:
    if facts.architecture != "x86_64":
        return f"auto: {facts.architecture or 'unknown'} CPU, where OpenVINO was not measured faster"
    if not facts.avx512:
        return "auto: CPU without AVX-512, where OpenVINO was not measured faster"
    return "auto: OpenVINO reports no CPU device"


def openvino_matters(
    runtime: RuntimeSetting,
    device: DeviceSetting,
    precision: PrecisionSetting,
    *,
    architecture: str,
    cpu_flags: frozenset[str],
) -> bool:
    """Whether `choose` can depend on OpenVINO's facts; where not, `probe` skips it (~0.25 s of start)."""
    if runtime == "openvino" or device == "gpu" or precision in ("bf16", "int8-bf16", "fp16"):
        return True
    return runtime == "auto" and architecture == "x86_64" and "avx512f" in cpu_flags


def _precision(
    requested: PrecisionSetting, runtime: Runtime, device: Device, *, default: Precision
) -> Precision:
    chosen: Precision = default if requested == "auto" else requested
    allowed = _SUPPORTED[(runtime, device)]
    if chosen not in allowed:
        raise RuntimeSelectionError(
            f"GIGAAM_PRECISION={chosen} is not available with {runtime} on {device}; "
            f"choose one of: {', '.join(allowed)} (or auto)."
        )
    return chosen


def _require_ir(precision: Precision, facts: MachineFacts) -> None:
    if precision.startswith("int8") and not facts.int8_ir_possible:
        raise RuntimeSelectionError(
            f"GIGAAM_PRECISION={precision} on OpenVINO needs the int8 IR, which is not on disk, and NNCF is "
            "not installed to build it: install the `convert` extra, or run `gigaam-api download` where it "
            "is and copy MODELS_DIR."
        )


# ---- gathering the facts (the only part that touches the machine) ----


def normalise_architecture(machine: str) -> str:
    value = machine.lower()
    return {"amd64": "x86_64", "x64": "x86_64", "aarch64": "arm64"}.get(value, value)


@functools.cache  # the machine does not change: deciding whether to probe OpenVINO and the probe share a read
def read_cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The first processor's flags (x86 `flags`, arm `Features`); empty where the file does not exist."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


@functools.cache  # the machine does not change while the process runs: serve's check and the load share it
def probe(
    *, int8_ir_ready: bool, with_openvino: bool = True, nvidia_dir: Path = Path("/proc/driver/nvidia/gpus")
) -> MachineFacts:
    """Look at this machine. Imports onnxruntime and (`with_openvino`) openvino, each optional."""
    from importlib.util import find_spec

    providers: tuple[str, ...] = ()
    if find_spec("onnxruntime") is not None:
        import onnxruntime

        providers = tuple(onnxruntime.get_available_providers())
    devices: tuple[str, ...] = ()
    bf16 = False
    if with_openvino and find_spec("openvino") is not None:
        import openvino

        core = openvino.Core()
        devices = tuple(core.available_devices)
        if "CPU" in devices:
            bf16 = "BF16" in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    return MachineFacts(
        architecture=normalise_architecture(platform.machine()),
        cpu_flags=read_cpu_flags(),
        ort_providers=providers,
        openvino_devices=devices,
        openvino_bf16=bf16,
        nvidia_gpu=nvidia_dir.is_dir() and any(nvidia_dir.iterdir()),
        nncf_installed=find_spec("nncf") is not None,
        int8_ir_ready=int8_ir_ready,
    )
