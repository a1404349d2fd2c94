"""Qwen3-ASR's own settings (`QWEN_*`), composed into `config.Settings`.

Pydantic alone: config.py imports it, so it imports no engine and no inference library.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator


class QwenSettings(BaseModel):
    QWEN_DEVICE: Literal["auto", "cpu", "cuda"] = Field(
        default="auto",
        description="Qwen3-ASR: `auto` (a CUDA GPU when torch can use one, else the CPU), `cpu` or `cuda`",
    )
    QWEN_ALIGNER: str | None = Field(
        default=None,
        description=(
            "`qwen3-forcedaligner-0.6b`: time Qwen3-ASR's words with the forced aligner (word "
            "timestamps; chunks up to 180 s). Unset: no word timestamps from Qwen3-ASR"
        ),
    )
    QWEN_MAX_NEW_TOKENS: int = Field(
        default=512,
        ge=1,
        description="Qwen3-ASR: longest text per chunk, in tokens",
    )

    # Named apart from the other families' and config's validators: Settings inherits them all.
    @field_validator("QWEN_DEVICE", mode="before")
    @classmethod
    def _qwen_lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("QWEN_ALIGNER", mode="before")
    @classmethod
    def _qwen_empty_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value
