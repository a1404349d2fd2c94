"""The speaker-embedding models this service can run, and what a model directory declares about itself.

Pure data and functions (json only, no numpy) so configuration and the HTTP layer can use them.

A model directory holds the hub repository's files. It may also hold `speaker.json` (the `MODEL_CARD`),
which overrides the catalog's description of the model: its front end, window and threshold. That is how
a directory can carry a different network under the same name (the tests' GE2E model, whose front end
is inside its ONNX graph, is written where the default WeSpeaker model would be).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Final, Literal

Frontend = Literal["kaldi-fbank80", "waveform"]
"""`kaldi-fbank80`: the graph takes WeSpeaker's features (80 Kaldi fbank bins, 25/10 ms, mean-normalised
per window), computed by onnx-asr's `wespeaker` preprocessor; `waveform`: the graph takes 16 kHz samples
`[batch, samples]` and computes its own features."""
FRONTENDS: Final[tuple[Frontend, ...]] = ("kaldi-fbank80", "waveform")
MODEL_CARD: Final = "speaker.json"


@dataclass(frozen=True, slots=True)
class SpeakerModelSpec:
    name: str
    repo_id: str
    onnx_file: str
    frontend: Frontend
    window_seconds: float  # the audio one embedding describes
    hop_seconds: float  # between the starts of consecutive windows in long speech
    embedding_dim: int
    # Cosine similarities, calibrated per model: a window joins a cluster found so far from
    # `same_speaker_similarity` up; the final pass groups clusters whose pooled centroids reach
    # `cluster_similarity` (centroids of one voice's clusters differ by what was said in them).
    same_speaker_similarity: float
    cluster_similarity: float
    source: str = ""  # where the weights come from, for /health and the logs

    def required_files(self) -> list[str]:
        return [self.onnx_file]


DEFAULT_SPEAKER_MODEL: Final = "wespeaker-voxceleb-campplus"
RESNET34_SPEAKER_MODEL: Final = "wespeaker-voxceleb-resnet34-lm"

# WeSpeaker's exports: its fbank in, windows every three quarters of a window, not its recipe's half (15-20 %
# fewer windows, the whole of diarization's cost, with DER no worse on the tests' conversations:
# docs/speakers.md), similarities set from its published operating range, not measured here (no real
# weights).
_wespeaker = partial(
    SpeakerModelSpec,
    frontend="kaldi-fbank80",
    window_seconds=1.5,
    hop_seconds=1.125,
    same_speaker_similarity=0.5,
    cluster_similarity=0.45,
)
MODELS: dict[str, SpeakerModelSpec] = {
    spec.name: spec
    for spec in (
        # CAM++ (Apache-2.0 on its hub card; CC BY 4.0 per WeSpeaker for VoxCeleb models), 29.3 MB, 512-dim
        # embeddings: VoxCeleb EER on par with ResNet34's at less than half its CPU time per window
        # (docs/speakers.md), which is what keeps diarization's cost small. Its two similarities are
        # ResNet34's, not calibrated for it: no real weights here (docs/speakers.md, Limits).
        _wespeaker(
            DEFAULT_SPEAKER_MODEL,
            "Wespeaker/wespeaker-voxceleb-campplus",
            "voxceleb_CAM++.onnx",
            embedding_dim=512,
            source="WeSpeaker CAM++ (VoxCeleb)",
        ),
        # ResNet34 r-vector after large-margin fine-tuning (CC BY 4.0), 26.5 MB, 256-dim embeddings.
        _wespeaker(
            RESNET34_SPEAKER_MODEL,
            "Wespeaker/wespeaker-voxceleb-resnet34-LM",
            "voxceleb_resnet34_LM.onnx",
            embedding_dim=256,
            source="WeSpeaker ResNet34-LM (VoxCeleb)",
        ),
    )
}


class ModelCardError(ValueError):
    """`speaker.json` is not a valid description of the model next to it."""


def described(spec: SpeakerModelSpec, model_dir: Path) -> SpeakerModelSpec:
    """The spec as the model directory declares it: the catalog's, overridden by its `speaker.json`."""
    card = model_dir / MODEL_CARD
    if not card.is_file():
        return spec
    try:
        fields = json.loads(card.read_text(encoding="utf-8"))
        if not isinstance(fields, dict):
            raise TypeError("not a JSON object")
        allowed = {
            "frontend",
            "window_seconds",
            "hop_seconds",
            "embedding_dim",
            "same_speaker_similarity",
            "cluster_similarity",
        }
        unknown = set(fields) - allowed - {"source"}
        if unknown:
            raise KeyError(f"unknown keys {sorted(unknown)}")
        result = replace(spec, **fields)
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise ModelCardError(f"{card}: {exc}") from exc
    if result.frontend not in FRONTENDS:
        raise ModelCardError(f"{card}: frontend must be one of {', '.join(FRONTENDS)}")
    if not 0 < result.hop_seconds <= result.window_seconds:
        raise ModelCardError(f"{card}: need 0 < hop_seconds <= window_seconds")
    return result
