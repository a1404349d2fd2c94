"""The speaker model's weights in MODELS_DIR, fetched from the hub when missing.

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
from gigaam_api.speakers.catalog import MODELS, SpeakerModelSpec

if TYPE_CHECKING:
    from gigaam_api.config import Settings

log = logging.getLogger(__name__)


def missing_files(model_dir: Path, spec: SpeakerModelSpec) -> list[str]:
    return [f for f in spec.required_files() if not (model_dir / f).is_file()]


def _unavailable(
    model_dir: Path, spec: SpeakerModelSpec, why: str, *, offline: bool
) -> WeightsUnavailableError:
    return WeightsUnavailableError(
        f"Speaker model weights for {spec.name} are not available: {why}\n"
        f"  directory: {model_dir.resolve()}\n"
        f"  missing:   {', '.join(missing_files(model_dir, spec))}\n"
        f"  fetch them on a machine with internet access:\n"
        f"    SPEAKER_MODEL={spec.name} MODELS_DIR={model_dir.parent} make download-weights\n"
        f"    (or: gigaam-api download; or copy the files from https://huggingface.co/{spec.repo_id})\n"
        f"  then start again{'' if offline else '; set OFFLINE=true to never try the network'}."
    )


def ensure_weights(models_dir: Path, name: str, *, offline: bool) -> Path:
    """`MODELS_DIR/<name>` with every required file present, downloading what is missing unless offline."""
    spec = MODELS[name]
    model_dir = models_dir / spec.name
    return fetch_snapshot(
        spec.name,
        spec.repo_id,
        model_dir,
        spec.required_files(),
        missing=lambda: missing_files(model_dir, spec),
        refusal=lambda why, offline: _unavailable(model_dir, spec, why, offline=offline),
        offline=offline,
    )


def ensure(settings: Settings) -> Path:
    return ensure_weights(settings.MODELS_DIR, settings.SPEAKER_MODEL, offline=settings.OFFLINE)


def fetch(settings: Settings) -> Path:
    """`gigaam-api download`: fetch whatever is missing of the speaker model."""
    return ensure_weights(settings.MODELS_DIR, settings.SPEAKER_MODEL, offline=False)
