"""Which runtime and precision run the speaker model: settings plus machine facts → one choice.

`choose` is pure (facts in, choice or `RuntimeSelectionError` out) so every branch is unit-tested with
made-up machines; `probe` gathers the real facts and is the only place here that imports OpenVINO.

`auto` runs OpenVINO where it measured faster than ONNX Runtime (x86-64 with AVX-512), in bf16 where the
CPU has bf16 instructions (AVX512_BF16 or AMX, as OpenVINO reports them): half f32's CPU time per window
with embeddings within 0.9999 cosine similarity of ONNX Runtime fp32's (docs/speakers.md); elsewhere,
or where OpenVINO is not installed, ONNX Runtime fp32.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Final, Literal

from gigaam_api.config import SpeakerPrecision, SpeakerRuntime
from gigaam_api.engines.base import RuntimeSelectionError

Runtime = Literal["onnxruntime", "openvino"]
Precision = Literal["fp32", "bf16"]

BF16_WHY: Final = "bf16 (AVX512_BF16/AMX): half f32's CPU time, embeddings within 0.9999 cosine of fp32's"


@dataclass(frozen=True, slots=True)
class SpeakerMachine:
    """What the machine offers the speaker model, as `probe` finds it (or as a test makes it up)."""

    architecture: str  # normalised `platform.machine()`: x86_64, arm64, ...
    cpu_flags: frozenset[str]  # /proc/cpuinfo flags; empty where unknown
    openvino_cpu: bool  # OpenVINO is installed and reports its CPU device
    openvino_bf16: bool  # ... and BF16 among that device's optimisation capabilities


@dataclass(frozen=True, slots=True)
class SpeakerRuntimeChoice:
    runtime: Runtime
    precision: Precision
    reason: str

    def describe(self) -> str:
        return f"{self.runtime}, {self.precision} ({self.reason})"


def choose(
    runtime: SpeakerRuntime, precision: SpeakerPrecision, machine: SpeakerMachine
) -> SpeakerRuntimeChoice:
    """The configuration to run; raises RuntimeSelectionError when an explicit setting cannot be met."""
    if runtime == "onnxruntime":
        if precision == "bf16":
            raise RuntimeSelectionError(
                "SPEAKER_PRECISION=bf16 runs on OpenVINO; with SPEAKER_RUNTIME=onnxruntime use fp32 or auto."
            )
        return SpeakerRuntimeChoice("onnxruntime", "fp32", "SPEAKER_RUNTIME=onnxruntime")
    if runtime == "openvino" or precision == "bf16":
        asked = "SPEAKER_RUNTIME=openvino" if runtime == "openvino" else "SPEAKER_PRECISION=bf16"
        if not machine.openvino_cpu:
            raise RuntimeSelectionError(
                f"{asked} needs OpenVINO's CPU device, which is not available here (is the `openvino` "
                "package installed?); set SPEAKER_RUNTIME=auto or onnxruntime."
            )
        return _openvino(precision, machine, asked)
    if machine.openvino_cpu and machine.architecture == "x86_64" and "avx512f" in machine.cpu_flags:
        return _openvino(precision, machine, "auto: x86-64 CPU with AVX-512, where OpenVINO measured faster")
    return SpeakerRuntimeChoice("onnxruntime", "fp32", _why_not_openvino(machine))


def _openvino(precision: SpeakerPrecision, machine: SpeakerMachine, why: str) -> SpeakerRuntimeChoice:
    if precision == "bf16" and not machine.openvino_bf16:
        raise RuntimeSelectionError(
            "SPEAKER_PRECISION=bf16 needs a CPU with bf16 instructions (AVX512_BF16 or AMX); OpenVINO "
            "reports none here. Use SPEAKER_PRECISION=fp32 or auto."
        )
    if precision == "auto":
        if machine.openvino_bf16:
            return SpeakerRuntimeChoice("openvino", "bf16", f"{why}; {BF16_WHY}")
        return SpeakerRuntimeChoice("openvino", "fp32", f"{why}; fp32: the CPU has no bf16 instructions")
    return SpeakerRuntimeChoice("openvino", precision, why)


def _why_not_openvino(machine: SpeakerMachine) -> str:
    if not machine.openvino_cpu:
        return "auto: OpenVINO is not installed or reports no CPU device"
    if machine.architecture != "x86_64":
        return f"auto: {machine.architecture or 'unknown'} CPU, where OpenVINO was not measured faster"
    return "auto: CPU without AVX-512, where OpenVINO was not measured faster"


@functools.cache  # the machine does not change while the process runs
def probe() -> SpeakerMachine:
    """Look at this machine; imports OpenVINO if it is installed."""
    import platform
    from importlib.util import find_spec

    from gigaam_api.engines.gigaam.runtime import normalise_architecture, read_cpu_flags

    openvino_cpu = bf16 = False
    if find_spec("openvino") is not None:
        import openvino

        core = openvino.Core()
        openvino_cpu = "CPU" in core.available_devices
        bf16 = openvino_cpu and "BF16" in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    return SpeakerMachine(
        architecture=normalise_architecture(platform.machine()),
        cpu_flags=read_cpu_flags(),
        openvino_cpu=openvino_cpu,
        openvino_bf16=bf16,
    )
