"""The runtime × precision configurations the bench puts side by side, and which one `auto` runs here."""

from __future__ import annotations

from dataclasses import dataclass

from gigaam_api.engines.gigaam.runtime import MachineFacts, Precision, Runtime, RuntimeChoice, choose

REFERENCE = "ort-fp32"  # fidelity is measured against ONNX Runtime at full precision
OVEP = "OpenVINOExecutionProvider"
OVEP_ARCHITECTURE = "x86_64"  # onnxruntime-openvino publishes Linux wheels for x86-64 only


@dataclass(frozen=True)
class BenchConfig:
    label: str
    runtime: Runtime
    precision: Precision
    # An ONNX Runtime execution provider the service does not offer: measured by the limit only.
    provider: str | None = None

    @property
    def service(self) -> bool:
        """Whether the service can run this configuration (the end-to-end figures)."""
        return self.provider is None

    def choice(self) -> RuntimeChoice:
        return RuntimeChoice(self.runtime, "cpu", self.precision, "bench")

    def env(self) -> dict[str, str]:
        """The server settings that select this configuration."""
        return {"GIGAAM_RUNTIME": self.runtime, "GIGAAM_DEVICE": "cpu", "GIGAAM_PRECISION": self.precision}


ALL = (
    BenchConfig("ort-fp32", "onnxruntime", "fp32"),
    BenchConfig("ort-int8", "onnxruntime", "int8"),
    BenchConfig("ov-fp32", "openvino", "fp32"),
    BenchConfig("ov-int8", "openvino", "int8"),
    # int8 weights and activations (NNCF static quantization): only where VNNI makes it worth building.
    BenchConfig("ov-int8-static", "openvino", "int8-static"),
    BenchConfig("ov-int8-bf16", "openvino", "int8-bf16"),
    # The same fp32 and hub int8 ONNX files as ort-*, on OpenVINO's execution provider.
    BenchConfig("ort-ovep-fp32", "onnxruntime", "fp32", provider=OVEP),
    BenchConfig("ort-ovep-int8", "onnxruntime", "int8", provider=OVEP),
)
BY_LABEL = {c.label: c for c in ALL}


def same_files(config: BenchConfig) -> BenchConfig | None:
    """For an execution provider's configuration, the service's one that loads the same ONNX files."""
    if config.service:
        return None
    return next(
        c for c in ALL if c.service and (c.runtime, c.precision) == (config.runtime, config.precision)
    )


def available(facts: MachineFacts) -> list[BenchConfig]:
    """Every configuration this machine can run (bf16 only where OpenVINO reports it, int8 arithmetic
    only with VNNI, the execution provider only where its wheel exists)."""
    return [
        c
        for c in ALL
        if (not c.precision.endswith("bf16") or facts.openvino_bf16)
        and (c.precision != "int8-static" or facts.vnni)
        and (c.service or facts.architecture == OVEP_ARCHITECTURE)
    ]


def not_measured(architecture: str) -> str:
    """What the bench leaves out on this architecture, for the report."""
    text = (
        "OpenVINO's ONNX Runtime execution provider (`ort-ovep-*`) is measured by the limit only: "
        "the service does not offer it as a runtime."
    )
    if architecture != OVEP_ARCHITECTURE:
        text += f" Not measured here: `onnxruntime-openvino` has no wheels for {architecture}."
    return text


def auto_label(facts: MachineFacts) -> str:
    """The configuration the default settings pick on this machine."""
    return label_of(choose("auto", "cpu", "auto", facts))


def label_of(choice: RuntimeChoice) -> str:
    """The service configuration that runs `choice`."""
    for config in ALL:
        if config.service and (config.runtime, config.precision) == (choice.runtime, choice.precision):
            return config.label
    raise ValueError(f"no bench configuration serves {choice.describe()}")
