"""The seam between the diarizer and any speaker-embedding model: what it declares, and what it returns.

Like `engines/base.py`, this imports no inference library at run time; the implementation is imported
lazily by the registry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt


@dataclass(frozen=True, slots=True)
class SpeakerCapabilities:
    """What a speaker-embedding model declares; the diarizer plans its windows and decisions with it."""

    model_id: str
    sample_rate: int
    window_seconds: float  # the audio one embedding describes
    hop_seconds: float  # between window starts inside long speech
    embedding_dim: int
    same_speaker_similarity: float  # a window's cosine similarity to a cluster's centroid to join it
    cluster_similarity: float  # the final pass's: between clusters' pooled centroids
    frontend: str  # what turns samples into the graph's input (see speakers/catalog.py)
    runtime: str = "onnxruntime"
    precision: str = "fp32"
    device: str = "cpu"
    streams: int = 1  # calls it runs at once: one per CPU inference stream (`cpus.plan_streams`)
    threads: int = 1  # each call's threads: the stream's share of NUM_THREADS
    detail: str = ""  # where the weights come from, for /health and the start-up log


class SpeakerEmbedder(Protocol):
    """Turns windows of 16 kHz mono float32 speech into unit-length embeddings, one row per window.

    Windows may differ in length (none longer than `window_seconds`, none empty). Safe on
    `capabilities.streams` threads at once: it runs on the inference workers, right after their batch.
    """

    @property
    def capabilities(self) -> SpeakerCapabilities: ...

    def embed(self, windows: Sequence[npt.NDArray[np.float32]]) -> npt.NDArray[np.float32]: ...
