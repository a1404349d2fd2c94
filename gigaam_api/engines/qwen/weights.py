"""Qwen3-ASR (and forced aligner) weights in MODELS_DIR, fetched from the hub when missing.

The same rules as GigaAM's weights (`engines/gigaam/weights.py`): `MODELS_DIR/<name>/` in the hub
repository's layout, filled by huggingface_hub's `snapshot_download` (each file written as `*.incomplete`
and renamed into place only when whole, an interrupted download resumes), never touched when OFFLINE.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from gigaam_api.engines.base import WeightsUnavailableError
from gigaam_api.engines.hub import fetch_snapshot
from gigaam_api.engines.qwen.catalog import ALIGNERS, MODELS, QwenSpec, missing_files

if TYPE_CHECKING:
    from gigaam_api.config import Settings

log = logging.getLogger(__name__)

_PATTERNS = ["*.json", "*.txt", "*.safetensors"]


def _unavailable(model_dir: Path, spec: QwenSpec, why: str, *, offline: bool) -> WeightsUnavailableError:
    return WeightsUnavailableError(
        f"Model weights for {spec.name} are not available: {why}\n"
        f"  directory: {model_dir.resolve()}\n"
        f"  missing:   {', '.join(missing_files(model_dir, spec))}\n"
        f"  fetch them on a machine with internet access:\n"
        f"    MODELS={spec.name} MODELS_DIR={model_dir.parent} make download-weights\n"
        f"    (or: gigaam-api download; or copy the files from https://huggingface.co/{spec.repo_id})\n"
        f"  then start again{'' if offline else '; set OFFLINE=true to never try the network'}."
    )


def ensure_spec(models_dir: Path, spec: QwenSpec, *, offline: bool) -> Path:
    """`MODELS_DIR/<name>` with every file present, downloading what is missing unless offline."""
    model_dir = models_dir / spec.name
    return fetch_snapshot(
        spec.name,
        spec.repo_id,
        model_dir,
        _PATTERNS,
        missing=lambda: missing_files(model_dir, spec),
        refusal=lambda why, offline: _unavailable(model_dir, spec, why, offline=offline),
        offline=offline,
    )


def aligner_dir(settings: Settings) -> Path | None:
    """The forced aligner's directory when QWEN_ALIGNER names one (ensured like the model's)."""
    if settings.QWEN_ALIGNER is None:
        return None
    return ensure_spec(settings.MODELS_DIR, ALIGNERS[settings.QWEN_ALIGNER], offline=settings.OFFLINE)


def ensure(settings: Settings) -> Path:
    """The registry's entry point: the model's directory, and the aligner's when one is configured."""
    model_dir = ensure_spec(settings.MODELS_DIR, MODELS[settings.MODEL], offline=settings.OFFLINE)
    aligner_dir(settings)
    return model_dir


def fetch(settings: Settings) -> Path:
    """`gigaam-api download`: fetch whatever is missing of the model and of the configured aligner."""
    model_dir = ensure_spec(settings.MODELS_DIR, MODELS[settings.MODEL], offline=False)
    if settings.QWEN_ALIGNER is not None:
        ensure_spec(settings.MODELS_DIR, ALIGNERS[settings.QWEN_ALIGNER], offline=False)
    return model_dir
