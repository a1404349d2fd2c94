"""GigaAM's own settings (`GIGAAM_*`, and their older global names), composed into `config.Settings`.

Pydantic alone: config.py imports it, so it imports no engine and no inference library.
engines/gigaam/runtime.py resolves the values.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator

RuntimeSetting = Literal["auto", "onnxruntime", "openvino"]
DeviceSetting = Literal["auto", "cpu", "cuda", "gpu"]
PrecisionSetting = Literal["auto", "fp32", "int8", "int8-static", "bf16", "int8-bf16", "fp16"]


class GigaamSettings(BaseModel):
    """Deprecated names carry `replaced_by` (and `reads_as` for their values): `config.Settings` applies
    them and logs their use."""

    GIGAAM_RUNTIME: RuntimeSetting = Field(
        default="auto",
        description="GigaAM: `auto`, `onnxruntime` or `openvino` (see Runtimes, devices and precisions)",
    )
    GIGAAM_DEVICE: DeviceSetting = Field(
        default="auto",
        description=(
            "GigaAM: `auto`, `cpu`, `cuda` (NVIDIA, ONNX Runtime's CUDA provider) or `gpu` (Intel, OpenVINO)"
        ),
    )
    GIGAAM_PRECISION: PrecisionSetting = Field(
        default="auto",
        description=(
            "GigaAM: `auto`, `fp32`, `int8`, `int8-static` (OpenVINO: int8 weights and activations, CTC "
            "models, see docs/int8.md), `bf16`, `int8-bf16` (OpenVINO on CPUs with bf16) or `fp16` "
            "(Intel GPU)"
        ),
    )
    RUNTIME: RuntimeSetting | None = Field(
        default=None,
        description="older name of `GIGAAM_RUNTIME`; if both are set they must agree",
        json_schema_extra={"replaced_by": "GIGAAM_RUNTIME"},
    )
    DEVICE: DeviceSetting | None = Field(
        default=None,
        description="older name of `GIGAAM_DEVICE`; if both are set they must agree",
        json_schema_extra={"replaced_by": "GIGAAM_DEVICE"},
    )
    PRECISION: PrecisionSetting | None = Field(
        default=None,
        description="older name of `GIGAAM_PRECISION`; if both are set they must agree",
        json_schema_extra={"replaced_by": "GIGAAM_PRECISION"},
    )
    QUANTIZATION: Literal["none", "int8"] | None = Field(
        default=None,
        description=(
            "older alias: `none` = `GIGAAM_PRECISION=fp32`, `int8` = `GIGAAM_PRECISION=int8`; contradicting "
            "`GIGAAM_PRECISION` is an error"
        ),
        json_schema_extra={"replaced_by": "GIGAAM_PRECISION", "reads_as": {"none": "fp32", "int8": "int8"}},
    )

    # Named apart from config's and the other families' validators: Settings inherits them all.
    @field_validator(
        "GIGAAM_RUNTIME",
        "GIGAAM_DEVICE",
        "GIGAAM_PRECISION",
        "RUNTIME",
        "DEVICE",
        "PRECISION",
        "QUANTIZATION",
        mode="before",
    )
    @classmethod
    def _gigaam_lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value
