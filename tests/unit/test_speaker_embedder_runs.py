"""How the speaker embedder cuts a call into model runs: windows of one length together, in runs of even
size no longer than MAX_BATCH, every row back in its window's place and of unit length."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gigaam_api.cpus import StreamPlan
from gigaam_api.speakers import onnx
from gigaam_api.speakers.catalog import MODELS, RESNET34_SPEAKER_MODEL
from gigaam_api.speakers.runtime import SpeakerRuntimeChoice


class Recording:
    """A `waveform` model whose embedding is [first sample, 1]: rows say which window they came from."""

    def __init__(self) -> None:
        self.runs: list[tuple[int, int]] = []  # (windows, samples) per run

    def run(self, output_names: Sequence[str], feeds: Mapping[str, Any]) -> list[Any]:
        batch = feeds["waveform"]
        self.runs.append(batch.shape)
        return [np.stack([batch[:, 0], np.ones(len(batch))], axis=1).astype(np.float32)]


@pytest.fixture
def embedder(monkeypatch: pytest.MonkeyPatch) -> tuple[onnx.OnnxSpeakerEmbedder, Recording]:
    session = Recording()
    monkeypatch.setattr(onnx, "_session", lambda *_: session)
    card = replace(MODELS[RESNET34_SPEAKER_MODEL], frontend="waveform", embedding_dim=2)
    choice = SpeakerRuntimeChoice("onnxruntime", "fp32", "test")
    return onnx.OnnxSpeakerEmbedder(card, Path("unused"), plan=StreamPlan(1, 1), choice=choice), session


def test_a_call_runs_in_even_runs_per_length_and_rows_keep_their_windows(
    embedder: tuple[onnx.OnnxSpeakerEmbedder, Recording],
) -> None:
    model, session = embedder
    assert onnx.MAX_BATCH == 4
    # Nine full windows and two short ones, interleaved; window i starts with the sample i.
    lengths = [16, 16, 8, 16, 16, 16, 16, 8, 16, 16, 16]
    windows = [np.full(n, i, dtype=np.float32) for i, n in enumerate(lengths)]

    rows = model.embed(windows)

    assert session.runs == [(3, 16), (3, 16), (3, 16), (2, 8)]  # 9 as 3 + 3 + 3, not 4 + 4 + 1
    assert np.allclose(np.linalg.norm(rows, axis=1), 1.0)
    order = rows[:, 0] / rows[:, 1]  # the first sample, back from the unit row
    assert np.allclose(order, np.arange(len(windows)))
