"""Fetching a model directory from the Hugging Face hub, for any family's weights module.

`snapshot_download` writes each file as `*.incomplete` and renames it into place only when whole, so an
interrupted download resumes; the caller says which files must be there and how to word a refusal.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from gigaam_api.engines.base import WeightsUnavailableError

log = logging.getLogger(__name__)

Refusal = Callable[[str, bool], WeightsUnavailableError]  # (why, offline) -> the operator's message


def fetch_snapshot(
    name: str,
    repo_id: str,
    model_dir: Path,
    patterns: Sequence[str],
    *,
    missing: Callable[[], list[str]],
    refusal: Refusal,
    offline: bool,
) -> Path:
    """`model_dir` with nothing `missing()`, downloading `patterns` of `repo_id` unless `offline`."""
    if not missing():
        return model_dir
    if offline:
        raise refusal("OFFLINE=true and they are not on disk.", True)
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    log.info("downloading %s from %s into %s", name, repo_id, model_dir)
    try:
        snapshot_download(repo_id, local_dir=model_dir, allow_patterns=list(patterns))
    except (OSError, HfHubHTTPError, LocalEntryNotFoundError) as exc:
        why = f"the Hugging Face hub could not be reached ({type(exc).__name__})."
        raise refusal(why, False) from exc
    if missing():
        raise refusal("the download finished without them.", False)
    log.info("downloaded %s", name)
    return model_dir
