"""Where the model weights are, and fetching them from the Hugging Face hub when they are not.

Downloads go through huggingface_hub's `snapshot_download` into `MODELS_DIR/<model>/`: it writes
each file under `.cache/huggingface/download/` as `*.incomplete` and renames it into place only when
complete, so an interrupted download never leaves a file that a later start would load as whole,
and the next attempt resumes it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from gigaam_api.engines.base import WeightsUnavailableError
from gigaam_api.engines.gigaam.catalog import MODELS

if TYPE_CHECKING:
    from gigaam_api.config import Settings

log = logging.getLogger(__name__)


def missing_files(model_dir: Path, model: str, quantization: str | None) -> list[str]:
    return [f for f in MODELS[model].required_files(quantization) if not (model_dir / f).is_file()]


def _unavailable(
    model_dir: Path, model: str, quantization: str | None, why: str, *, offline: bool = False
) -> WeightsUnavailableError:
    missing = missing_files(model_dir, model, quantization)
    spec = MODELS[model]
    quant = f" QUANTIZATION={quantization}" if quantization else ""
    return WeightsUnavailableError(
        f"Model weights for {model} are not available: {why}\n"
        f"  directory: {model_dir.resolve()}\n"
        f"  missing:   {', '.join(missing)}\n"
        f"  fetch them on a machine with internet access:\n"
        f"    MODEL={model}{quant} MODELS_DIR={model_dir.parent} make download-weights\n"
        f"    (or: gigaam-api download; or copy the files from https://huggingface.co/{spec.repo_id})\n"
        f"  then start again{'' if offline else '; set OFFLINE=true to never try the network'}."
    )


def ensure_weights(models_dir: Path, model: str, quantization: str | None, *, offline: bool) -> Path:
    """Return the model directory with every required file present, downloading them unless offline."""
    model_dir = models_dir / model
    if not missing_files(model_dir, model, quantization):
        return model_dir
    if offline:
        raise _unavailable(
            model_dir, model, quantization, "OFFLINE=true and they are not on disk.", offline=True
        )
    download(models_dir, model, quantization)
    if missing_files(model_dir, model, quantization):
        raise _unavailable(model_dir, model, quantization, "the download finished without them.")
    return model_dir


def download(models_dir: Path, model: str, quantization: str | None) -> Path:
    """Fetch the model's files from the hub (resuming a partial download); progress goes to the log."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    spec = MODELS[model]
    model_dir = models_dir / model
    files = spec.required_files(quantization)
    log.info("downloading %s from %s into %s: %s", model, spec.repo_id, model_dir, ", ".join(files))
    try:
        snapshot_download(spec.repo_id, local_dir=model_dir, allow_patterns=files)
    except (OSError, HfHubHTTPError, LocalEntryNotFoundError) as exc:
        raise _unavailable(
            model_dir,
            model,
            quantization,
            f"the Hugging Face hub could not be reached ({type(exc).__name__}).",
        ) from exc
    log.info("downloaded %s", model)
    return model_dir


def ensure(settings: Settings) -> Path:
    """The registry's entry point: see `ensure_weights`. Which files depends on the runtime choice
    (ONNX Runtime int8 reads the hub's `.int8.onnx` files, everything else the fp32 ones)."""
    from gigaam_api.engines.gigaam.loader import choose_runtime

    choice = choose_runtime(settings)
    model_dir = ensure_weights(
        settings.MODELS_DIR, settings.MODEL, choice.onnx_quantization, offline=settings.OFFLINE
    )
    if choice.precision == "int8-static" and not settings.OFFLINE:
        _fetch_gate_reference(settings)
    return model_dir


def _fetch_gate_reference(settings: Settings) -> None:
    """The ONNX Runtime int8 files the static IR's fidelity gate compares with, until it has a verdict;
    without them the gate refuses and the weight-only int8 IR runs, so a failed fetch is not an error."""
    from gigaam_api.engines.gigaam.loader import fp32_onnx_files
    from gigaam_api.engines.gigaam.static_ir import read_verdict

    model_dir = settings.model_dir
    if read_verdict(model_dir, fp32_onnx_files(settings.MODEL)) is not None:
        return
    if missing_files(model_dir, settings.MODEL, "int8"):
        try:
            download(settings.MODELS_DIR, settings.MODEL, "int8")
        except WeightsUnavailableError as exc:
            log.warning("%s", str(exc).splitlines()[0])


def fetch(settings: Settings) -> Path:
    """The registry's entry point for `gigaam-api download`: fetch whatever is missing, and build the
    int8 OpenVINO IR now if the runtime choice on this machine loads it."""
    from gigaam_api.engines.gigaam.ir import ensure_int8_ir
    from gigaam_api.engines.gigaam.loader import choose_runtime, fp32_onnx_files, settle_int8_static

    choice = choose_runtime(settings, ahead=True)
    model_dir = settings.model_dir
    ensure_weights(settings.MODELS_DIR, settings.MODEL, choice.onnx_quantization, offline=False)
    if choice.precision == "int8-static":
        _fetch_gate_reference(settings)
        choice = settle_int8_static(model_dir, settings.MODEL, choice, settings.NUM_THREADS)
        log.info("OpenVINO runs %s here (%s)", choice.precision, choice.reason)
    if choice.int8_ir:
        seconds = ensure_int8_ir(model_dir, fp32_onnx_files(settings.MODEL))
        log.info("int8 OpenVINO IR %s", "reused" if seconds is None else f"built in {seconds:.0f} s")
    return model_dir
