"""The Qwen3-ASR models this service can serve, and the forced aligner that times their words. Pure data.

The file names are those of the hub repositories (Qwen/Qwen3-ASR-0.6B, -1.7B, Qwen3-ForcedAligner-0.6B):
the tokenizer as vocab.json + merges.txt, the weights as one `model.safetensors` or as shards listed in
`model.safetensors.index.json`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

WEIGHTS = "model.safetensors"
WEIGHTS_INDEX = "model.safetensors.index.json"
# What `Qwen3ASRModel.from_pretrained` reads besides the weights.
_FILES = ("config.json", "preprocessor_config.json", "tokenizer_config.json", "vocab.json", "merges.txt")


@dataclass(frozen=True, slots=True)
class QwenSpec:
    name: str
    repo_id: str
    files: tuple[str, ...]


MODELS: dict[str, QwenSpec] = {
    spec.name: spec
    for spec in (
        QwenSpec("qwen3-asr-0.6b", "Qwen/Qwen3-ASR-0.6B", (*_FILES, "chat_template.json")),
        QwenSpec("qwen3-asr-1.7b", "Qwen/Qwen3-ASR-1.7B", (*_FILES, "chat_template.json")),
    )
}
ALIGNERS: dict[str, QwenSpec] = {
    "qwen3-forcedaligner-0.6b": QwenSpec("qwen3-forcedaligner-0.6b", "Qwen/Qwen3-ForcedAligner-0.6B", _FILES)
}


def _key(value: str) -> str:
    return value.strip().lower().replace("_", "-").removeprefix("qwen/")


def canonical_model_name(value: str) -> str:
    """Accept `qwen3-asr-0.6b`, `Qwen/Qwen3-ASR-1.7B`, `qwen3_asr_0.6b`; raise ValueError otherwise."""
    key = _key(value)
    if key not in MODELS:
        raise ValueError(f"unknown model {value!r}; choose one of: {', '.join(MODELS)}")
    return key


def canonical_aligner_name(value: str) -> str:
    key = _key(value)
    if key not in ALIGNERS:
        raise ValueError(f"unknown forced aligner {value!r}; choose one of: {', '.join(ALIGNERS)}")
    return key


def missing_files(model_dir: Path, spec: QwenSpec) -> list[str]:
    """The files `model_dir` still lacks: the fixed ones, and the weights (one file, or every shard)."""
    missing = [f for f in spec.files if not (model_dir / f).is_file()]
    if (model_dir / WEIGHTS).is_file():
        return missing
    index = model_dir / WEIGHTS_INDEX
    if not index.is_file():
        return [*missing, f"{WEIGHTS} (or {WEIGHTS_INDEX} and its shards)"]
    try:
        shards = sorted(set(json.loads(index.read_text("utf-8"))["weight_map"].values()))
    except (ValueError, KeyError, AttributeError):
        return [*missing, f"{WEIGHTS_INDEX} (unreadable)"]
    return missing + [s for s in shards if not (model_dir / s).is_file()]
