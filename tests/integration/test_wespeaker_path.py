"""The production default speaker model's path, end to end: WeSpeaker's CAM++ in the hub layout (random
weights, tests/fixtures/wespeaker_model.py), no speaker.json, so the server takes the catalog's
`kaldi-fbank80` front end (onnx-asr's `wespeaker` fbank), as it does with the real weights.

Random weights cannot tell voices apart, so these tests hold the contracts, not the accuracy (that is
test_diarization.py's, on the pretrained GE2E model): the model loads without a card, every window
becomes one unit 512-d embedding whatever its length, and a diarized request through the official client
comes back well-formed, in every format.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from openai.types.audio import TranscriptionDiarized

from gigaam_api.config import load_settings
from gigaam_api.speakers.catalog import DEFAULT_SPEAKER_MODEL, MODEL_CARD, MODELS
from gigaam_api.speakers.diarizer import Diarizer
from gigaam_api.speakers.registry import create_embedder
from tests.fixtures.conversations import TWO, conversation
from tests.fixtures.live_server import LiveServer, offline_speaker_server
from tests.fixtures.speech import write_wav
from tests.fixtures.tiny_model import write_tiny_model

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def wespeaker_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.fixtures.wespeaker_model import build

    root = tmp_path_factory.mktemp("wespeaker-models")
    write_tiny_model(root / "gigaam-v3-ctc", "gigaam-v3-ctc")
    build(root)
    return root


def test_the_fixture_has_the_hub_layout_and_the_catalog_front_end(wespeaker_models_dir: Path) -> None:
    spec = MODELS[DEFAULT_SPEAKER_MODEL]
    model_dir = wespeaker_models_dir / spec.name
    assert sorted(p.name for p in model_dir.iterdir()) == [spec.onnx_file]  # no speaker.json
    assert not (model_dir / MODEL_CARD).exists()
    embedder = create_embedder(load_settings(_env_file=None, MODELS_DIR=wespeaker_models_dir, OFFLINE=True))
    caps = embedder.capabilities
    assert (caps.frontend, caps.embedding_dim, caps.window_seconds) == ("kaldi-fbank80", 512, 1.5)

    rng = np.random.default_rng(0)
    # One full window, a short one (as a region's last window can be) and the shortest the diarizer embeds.
    windows = [rng.standard_normal(n).astype(np.float32) * 0.1 for n in (24_000, 24_000, 13_000, 8_000)]
    embeddings = embedder.embed(windows)
    assert embeddings.shape == (4, 512) and embeddings.dtype == np.float32
    assert np.allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)
    assert np.allclose(embeddings[0], embedder.embed(windows[:1])[0], atol=1e-5)  # batching changes nothing
    assert not np.allclose(embeddings[0], embeddings[1], atol=1e-3)  # each window its own row


def test_the_diarizer_runs_on_it_with_well_formed_turns(wespeaker_models_dir: Path) -> None:
    embedder = create_embedder(load_settings(_env_file=None, MODELS_DIR=wespeaker_models_dir, OFFLINE=True))
    audio, _ = conversation(*TWO)
    diarizer = Diarizer(embedder)
    online = diarizer.feed(0.0, audio)
    final = diarizer.finish()
    for turns in (online, final):
        assert turns
        assert all(0 <= t.start < t.end <= len(audio) / 16_000 + 1e-6 for t in turns)
        assert all(a.end <= b.start for a, b in itertools.pairwise(turns))  # ordered, apart
        assert all(re.fullmatch(r"[A-Z]+", t.speaker) for t in turns)
    # Final labels in order of first appearance: A first, no letter skipped.
    order = list(dict.fromkeys(t.speaker for t in final))
    assert order == [chr(ord("A") + i) for i in range(len(order))]


@pytest.fixture(scope="module")
def live(wespeaker_models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = offline_speaker_server(
        wespeaker_models_dir, tmp_path_factory.mktemp("spool"), tmp_path_factory.mktemp("jobs")
    )
    yield server
    server.stop()


def test_a_diarized_request_on_the_default_model_is_well_formed(live: LiveServer, tmp_path: Path) -> None:
    audio, _ = conversation(*TWO)
    path = write_wav(tmp_path / "two.wav", audio)
    client = live.client()
    with path.open("rb") as f:
        result = client.audio.transcriptions.create(
            file=f,
            model="gpt-4o-transcribe-diarize",
            response_format="diarized_json",
            chunking_strategy="auto",
        )
    assert isinstance(result, TranscriptionDiarized)  # the client's own type, strictly validated
    segments = result.segments
    assert segments and [s.id for s in segments] == [str(i) for i in range(len(segments))]
    assert all(s.type == "transcript.text.segment" and s.text for s in segments)
    assert all(re.fullmatch(r"[A-Z]+", s.speaker) and s.start < s.end for s in segments)
    assert segments[0].speaker == "A"
    assert all(a.start <= b.start for a, b in itertools.pairwise(segments))

    with path.open("rb") as f:
        vtt = client.audio.transcriptions.create(
            file=f, model="whisper-1", response_format="vtt", extra_body={"diarize": "true"}
        )
    voices = re.findall(r"^\d\d:\d\d:\d\d\.\d{3} --> .*\n<v ([A-Z]+)>", vtt, flags=re.MULTILINE)
    assert voices and len(voices) == vtt.count(" --> ")
