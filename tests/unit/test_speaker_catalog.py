"""The speaker model catalog, what a model directory declares, and the offline rules for its weights."""

from __future__ import annotations

import json
from pathlib import Path
from typing import get_args

import pytest

from gigaam_api.config import Settings, SpeakerModel
from gigaam_api.engines.base import WeightsUnavailableError
from gigaam_api.speakers import weights
from gigaam_api.speakers.catalog import DEFAULT_SPEAKER_MODEL, MODEL_CARD, MODELS, ModelCardError, described


def test_the_setting_offers_exactly_the_catalogs_models() -> None:
    assert set(get_args(SpeakerModel)) == set(MODELS)
    assert Settings().SPEAKER_MODEL == DEFAULT_SPEAKER_MODEL


def test_a_model_card_overrides_the_catalog(tmp_path: Path) -> None:
    spec = MODELS[DEFAULT_SPEAKER_MODEL]
    assert described(spec, tmp_path) == spec  # no card: the catalog's description
    (tmp_path / MODEL_CARD).write_text(json.dumps({"frontend": "waveform", "window_seconds": 2.0}))

    card = described(spec, tmp_path)

    assert (card.frontend, card.window_seconds, card.hop_seconds) == ("waveform", 2.0, spec.hop_seconds)


@pytest.mark.parametrize(
    "content",
    ['{"frontend": "mfcc"}', '{"hop_seconds": 3.0}', '{"weights": 1}', "[1]", "{not json"],
)
def test_a_bad_model_card_is_refused_with_its_path(tmp_path: Path, content: str) -> None:
    (tmp_path / MODEL_CARD).write_text(content)
    with pytest.raises(ModelCardError, match=MODEL_CARD):
        described(MODELS[DEFAULT_SPEAKER_MODEL], tmp_path)


def test_offline_missing_weights_say_what_is_missing_and_how_to_fetch_it(tmp_path: Path) -> None:
    with pytest.raises(WeightsUnavailableError) as caught:
        weights.ensure(Settings(MODELS_DIR=tmp_path, OFFLINE=True))

    message = str(caught.value)
    assert "OFFLINE=true" in message and "voxceleb_CAM++.onnx" in message
    assert (
        "huggingface.co/Wespeaker/wespeaker-voxceleb-campplus" in message and "gigaam-api download" in message
    )
    assert not (tmp_path / DEFAULT_SPEAKER_MODEL).exists()  # nothing touched


def test_weights_on_disk_are_used_as_they_are(tmp_path: Path) -> None:
    model_dir = tmp_path / DEFAULT_SPEAKER_MODEL
    model_dir.mkdir()
    (model_dir / MODELS[DEFAULT_SPEAKER_MODEL].onnx_file).write_bytes(b"onnx")
    assert weights.ensure(Settings(MODELS_DIR=tmp_path, OFFLINE=True)) == model_dir
