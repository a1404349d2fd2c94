"""One entry point for the GigaAM adapter: the onnx-asr timestamped recogniser for the chosen runtime."""

from __future__ import annotations

import dataclasses
import json
import logging
import platform
from pathlib import Path
from typing import TYPE_CHECKING

from gigaam_api.cpus import StreamPlan
from gigaam_api.engines.gigaam.catalog import MODELS
from gigaam_api.engines.gigaam.runtime import (
    RuntimeChoice,
    choose,
    int8_static_buildable,
    normalise_architecture,
    openvino_matters,
    probe,
    read_cpu_flags,
)

if TYPE_CHECKING:
    from onnx_asr.adapters import TimestampedResultsAsrAdapter

    from gigaam_api.config import Settings

log = logging.getLogger(__name__)


def model_files(model_dir: Path, model: str, choice: RuntimeChoice) -> dict[str, Path]:
    """The files OpenVINO loads, under onnx-asr's keys; the int8 IR's `.xml` files replace the ONNX ones."""
    from gigaam_api.engines.gigaam.ir import ir_path
    from gigaam_api.engines.gigaam.static_ir import static_ir_path

    spec = MODELS[model]
    onnx = [f.format(q="") for f in spec.onnx_files]
    keys = ["model"] if len(onnx) == 1 else ["encoder", "decoder", "joint"]
    path = ir_path if choice.int8_ir else static_ir_path if choice.precision == "int8-static" else None
    graphs = {k: path(model_dir, f) if path else model_dir / f for k, f in zip(keys, onnx, strict=True)}
    return {"config": model_dir / "config.json", "vocab": model_dir / spec.vocab, **graphs}


def fp32_onnx_files(model: str) -> list[str]:
    """The ONNX files the int8 IR is built from."""
    return [f.format(q="") for f in MODELS[model].onnx_files]


def choose_runtime(settings: Settings, *, ahead: bool = False) -> RuntimeChoice:
    """What `settings` ask for on this machine; raises RuntimeSelectionError when it cannot run here.

    `ahead` (for `gigaam-api download`): what `auto` will run once the int8-static IR it would prefer has
    been built, so that the download builds it; a start never waits for that build (see `runtime`)."""
    from gigaam_api.engines.gigaam.ir import ir_ready
    from gigaam_api.engines.gigaam.static_ir import read_verdict

    model_dir = settings.model_dir
    onnx_files = fp32_onnx_files(settings.MODEL)
    ready = model_dir.is_dir() and ir_ready(model_dir, onnx_files)
    verdict = read_verdict(model_dir, onnx_files)
    openvino = openvino_matters(
        settings.GIGAAM_RUNTIME,
        settings.GIGAAM_DEVICE,
        settings.GIGAAM_PRECISION,
        architecture=normalise_architecture(platform.machine()),
        cpu_flags=read_cpu_flags(),
    )
    facts = probe(int8_ir_ready=ready, with_openvino=openvino)
    if verdict is not None:
        facts = dataclasses.replace(facts, int8_static="accepted" if verdict.accepted else "refused")
    elif ahead and int8_static_buildable(facts):
        facts = dataclasses.replace(facts, int8_static="accepted")  # to be built and gated by the download
    return choose(settings.GIGAAM_RUNTIME, settings.GIGAAM_DEVICE, settings.GIGAAM_PRECISION, facts)


def load_recognizers(
    model_dir: Path, model: str, choice: RuntimeChoice, plan: StreamPlan
) -> list[TimestampedResultsAsrAdapter]:
    """One recogniser per inference stream, each for one call at a time. OpenVINO's streams share one
    compiled model (the weights once, an infer request per call), so the list repeats one recogniser;
    ONNX Runtime loads a session per stream, each on the stream's threads and with its own weights."""
    if choice.runtime == "openvino":
        return [load_recognizer(model_dir, model, choice, plan.threads, plan.streams)] * plan.streams
    return [load_recognizer(model_dir, model, choice, plan.threads) for _ in range(plan.streams)]


def load_recognizer(
    model_dir: Path, model: str, choice: RuntimeChoice, num_threads: int, streams: int = 1
) -> TimestampedResultsAsrAdapter:
    """Build (or reuse) the int8 IR when the choice needs it, then load the model on its runtime.
    `streams` (OpenVINO): the calls it may run at once, each on `num_threads` threads."""
    if choice.runtime == "onnxruntime":
        from gigaam_api.engines.gigaam.onnxruntime import load_onnxruntime

        return load_onnxruntime(model_dir, model, choice, num_threads)

    from gigaam_api.engines.gigaam.ir import ensure_int8_ir
    from gigaam_api.engines.gigaam.openvino import CACHE_DIR, load_openvino

    if choice.int8_ir:
        ensure_int8_ir(model_dir, fp32_onnx_files(model))
    plan = StreamPlan(streams, num_threads)
    return load_openvino(model_files(model_dir, model, choice), choice, plan, model_dir / CACHE_DIR)


def settle_int8_static(model_dir: Path, model: str, choice: RuntimeChoice, num_threads: int) -> RuntimeChoice:
    """For `int8-static`, build the IR unless there is a verdict on it; the weight-only int8 IR instead
    (one log line saying why) when its fidelity gate refused it or it could not be built."""
    if choice.precision != "int8-static":
        return choice
    from gigaam_api.engines.gigaam.static_ir import ensure_static_ir

    version = json.loads((model_dir / "config.json").read_text(encoding="utf-8")).get("version", "v3")
    verdict = ensure_static_ir(model_dir, fp32_onnx_files(model), version, num_threads)
    if verdict.accepted:
        return dataclasses.replace(choice, reason=f"{choice.reason}; {verdict.reason}")
    log.warning("not running int8-static: %s; running the int8 weight-only IR instead", verdict.reason)
    return dataclasses.replace(
        choice, precision="int8", reason=f"{choice.reason}; not kept: {verdict.reason}"
    )
