"""The runtime × precision configurations the bench puts side by side, and which one `auto` runs here."""

from __future__ import annotations

from dataclasses import dataclass

from gigaam_api.engines.runtime import MachineFacts, Precision, Runtime, RuntimeChoice, choose

REFERENCE = "ort-fp32"  # fidelity is measured against ONNX Runtime at full precision
NOT_MEASURED = (
    "OpenVINO's ONNX Runtime execution provider (`onnxruntime-openvino`) is not in uv.lock, "
    "so it is not measured."
)


@dataclass(frozen=True)
class BenchConfig:
    label: str
    runtime: Runtime
    precision: Precision

    def choice(self) -> RuntimeChoice:
        return RuntimeChoice(self.runtime, "cpu", self.precision, "bench")

    def env(self) -> dict[str, str]:
        """The server settings that select this configuration."""
        return {"RUNTIME": self.runtime, "DEVICE": "cpu", "PRECISION": self.precision}


ALL = (
    BenchConfig("ort-fp32", "onnxruntime", "fp32"),
    BenchConfig("ort-int8", "onnxruntime", "int8"),
    BenchConfig("ov-fp32", "openvino", "fp32"),
    BenchConfig("ov-int8", "openvino", "int8"),
    BenchConfig("ov-int8-bf16", "openvino", "int8-bf16"),
)
BY_LABEL = {c.label: c for c in ALL}


def available(facts: MachineFacts) -> list[BenchConfig]:
    """Every configuration this CPU can run (bf16 only where OpenVINO reports it)."""
    return [c for c in ALL if not c.precision.endswith("bf16") or facts.openvino_bf16]


def auto_label(facts: MachineFacts) -> str:
    """The configuration the default settings pick on this machine."""
    choice = choose("auto", "cpu", "auto", facts)
    return next(c.label for c in ALL if (c.runtime, c.precision) == (choice.runtime, choice.precision))
