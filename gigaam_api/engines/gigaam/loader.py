"""One entry point for the GigaAM adapter: the onnx-asr timestamped recogniser for the chosen runtime."""

from __future__ import annotations

import platform
from pathlib import Path
from typing import TYPE_CHECKING

from gigaam_api.engines.gigaam.catalog import MODELS
from gigaam_api.engines.gigaam.runtime import (
    RuntimeChoice,
    choose,
    normalise_architecture,
    openvino_matters,
    probe,
    read_cpu_flags,
)

if TYPE_CHECKING:
    from onnx_asr.adapters import TimestampedResultsAsrAdapter

    from gigaam_api.config import Settings


def model_files(model_dir: Path, model: str, choice: RuntimeChoice) -> dict[str, Path]:
    """The files OpenVINO loads, under onnx-asr's keys; the int8 IR's `.xml` files replace the ONNX ones."""
    from gigaam_api.engines.gigaam.ir import ir_path

    spec = MODELS[model]
    onnx = [f.format(q="") for f in spec.onnx_files]
    keys = ["model"] if len(onnx) == 1 else ["encoder", "decoder", "joint"]
    graphs = {
        k: ir_path(model_dir, f) if choice.int8_ir else model_dir / f for k, f in zip(keys, onnx, strict=True)
    }
    return {"config": model_dir / "config.json", "vocab": model_dir / spec.vocab, **graphs}


def fp32_onnx_files(model: str) -> list[str]:
    """The ONNX files the int8 IR is built from."""
    return [f.format(q="") for f in MODELS[model].onnx_files]


def choose_runtime(settings: Settings) -> RuntimeChoice:
    """What `settings` ask for on this machine; raises RuntimeSelectionError when it cannot run here."""
    from gigaam_api.engines.gigaam.ir import ir_ready

    model_dir = settings.model_dir
    ready = model_dir.is_dir() and ir_ready(model_dir, fp32_onnx_files(settings.MODEL))
    openvino = openvino_matters(
        settings.GIGAAM_RUNTIME,
        settings.GIGAAM_DEVICE,
        settings.GIGAAM_PRECISION,
        architecture=normalise_architecture(platform.machine()),
        cpu_flags=read_cpu_flags(),
    )
    facts = probe(int8_ir_ready=ready, with_openvino=openvino)
    return choose(settings.GIGAAM_RUNTIME, settings.GIGAAM_DEVICE, settings.GIGAAM_PRECISION, facts)


def load_recognizer(
    model_dir: Path, model: str, choice: RuntimeChoice, num_threads: int
) -> TimestampedResultsAsrAdapter:
    """Build (or reuse) the int8 IR when the choice needs it, then load the model on its runtime."""
    if choice.runtime == "onnxruntime":
        from gigaam_api.engines.gigaam.onnxruntime import load_onnxruntime

        return load_onnxruntime(model_dir, model, choice, num_threads)

    from gigaam_api.engines.gigaam.ir import ensure_int8_ir
    from gigaam_api.engines.gigaam.openvino import CACHE_DIR, load_openvino

    if choice.int8_ir:
        ensure_int8_ir(model_dir, fp32_onnx_files(model))
    return load_openvino(model_files(model_dir, model, choice), choice, num_threads, model_dir / CACHE_DIR)
