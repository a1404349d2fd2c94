"""The speaker model on OpenVINO gives ONNX Runtime fp32's embeddings, through the settings' real path.

Every fixture: the pretrained GE2E encoder (waveform in, an LSTM: the accuracy tests' model) and
WeSpeaker's CAM++ (the production default's graph) and ResNet34 (random weights, fbank in). Windows are
real speech (espeak-ng voices), full 1.5-s windows, the shorter ones a region's end gives, and 3-s ones:
CAM++'s 100-frame segment pooling sees one partial segment in the first two and a whole and a partial one
in the last, which OpenVINO runs only once its pools are rewritten (speakers/openvino.py). bf16 keeps 8
bits of mantissa; measured here it stays above 0.9999 cosine similarity (docs/speakers.md), asserted at
0.999.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import openai
import pytest

from gigaam_api.config import SpeakerModel, SpeakerPrecision, SpeakerRuntime, load_settings
from gigaam_api.engines.base import RuntimeSelectionError
from gigaam_api.speakers.base import SpeakerEmbedder
from gigaam_api.speakers.catalog import DEFAULT_SPEAKER_MODEL, RESNET34_SPEAKER_MODEL
from gigaam_api.speakers.registry import create_embedder
from gigaam_api.speakers.runtime import probe
from tests.fixtures.conversations import TWO, conversation
from tests.fixtures.live_server import offline_speaker_server
from tests.fixtures.speech import write_wav

pytestmark = pytest.mark.integration

WINDOW = 24_000
# fp32 on both runtimes differs by summation order only; bf16 by its rounding.
AGREEMENT = {"fp32": 0.9999, "bf16": 0.999}


@pytest.fixture(scope="module")
def wespeaker_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.fixtures.wespeaker_model import build

    root = tmp_path_factory.mktemp("wespeaker-runtime")
    build(root)
    build(root, RESNET34_SPEAKER_MODEL)
    return root


@pytest.fixture(scope="module")
def windows() -> list[npt.NDArray[np.float32]]:
    audio, _ = conversation(*TWO)
    full = [audio[s : s + WINDOW] for s in range(0, len(audio) - WINDOW, WINDOW * 3 // 4)]
    return [
        *full,
        audio[:13_000],
        audio[WINDOW : WINDOW + 9_000],
        audio[: 2 * WINDOW],
        audio[WINDOW : 3 * WINDOW],
    ]


def _embedder(
    models_dir: Path,
    runtime: SpeakerRuntime,
    precision: SpeakerPrecision,
    *,
    streams: int = 1,
    model: SpeakerModel = DEFAULT_SPEAKER_MODEL,
) -> SpeakerEmbedder:
    settings = load_settings(
        _env_file=None,
        MODELS_DIR=models_dir,
        SPEAKER_MODEL=model,
        OFFLINE=True,
        SPEAKER_RUNTIME=runtime,
        SPEAKER_PRECISION=precision,
        NUM_THREADS=2,
    )
    return create_embedder(settings, streams)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("model", ["ge2e", DEFAULT_SPEAKER_MODEL, RESNET34_SPEAKER_MODEL])
def test_openvino_embeddings_match_onnxruntime_fp32(
    model: SpeakerModel | Literal["ge2e"],
    precision: SpeakerPrecision,
    speaker_models_dir: Path,
    wespeaker_models_dir: Path,
    windows: list[npt.NDArray[np.float32]],
) -> None:
    # The GE2E fixture sits where the default goes, under the default's name.
    name: SpeakerModel = DEFAULT_SPEAKER_MODEL if model == "ge2e" else model
    models_dir = speaker_models_dir if model == "ge2e" else wespeaker_models_dir
    if precision == "bf16" and not probe().openvino_bf16:  # a CPU without bf16 refuses it by name
        with pytest.raises(RuntimeSelectionError, match="SPEAKER_PRECISION=bf16 needs a CPU"):
            _embedder(models_dir, "openvino", precision, model=name)
        return
    reference = _embedder(models_dir, "onnxruntime", "fp32", model=name)
    candidate = _embedder(models_dir, "openvino", precision, model=name)
    assert reference.capabilities.model_id == candidate.capabilities.model_id == name
    assert (reference.capabilities.runtime, reference.capabilities.precision) == ("onnxruntime", "fp32")
    assert (candidate.capabilities.runtime, candidate.capabilities.precision) == ("openvino", precision)

    expected, found = reference.embed(windows), candidate.embed(windows)
    assert found.shape == expected.shape and found.dtype == np.float32
    assert np.allclose(np.linalg.norm(found, axis=1), 1.0, atol=1e-5)
    similarity = np.sum(expected * found, axis=1)
    assert similarity.min() >= AGREEMENT[precision], similarity


@pytest.mark.parametrize("runtime", ["onnxruntime", "openvino"])
def test_one_call_per_inference_stream_at_once_gives_one_streams_embeddings(
    runtime: SpeakerRuntime, speaker_models_dir: Path, windows: list[npt.NDArray[np.float32]]
) -> None:
    """With two inference streams two diarized batches embed at once, each on its stream's share of
    NUM_THREADS (before, each asked for all of them), and get what one stream gives."""
    one = _embedder(speaker_models_dir, runtime, "fp32")
    two = _embedder(speaker_models_dir, runtime, "fp32", streams=2)
    assert (one.capabilities.streams, one.capabilities.threads) == (1, 2)
    assert (two.capabilities.streams, two.capabilities.threads) == (2, 1)
    expected = one.embed(windows)
    with ThreadPoolExecutor(2) as calls:
        found = list(calls.map(two.embed, [windows, windows[::-1]]))
    for got in (found[0], found[1][::-1]):
        assert np.sum(expected * got, axis=1).min() >= AGREEMENT["fp32"]


def test_auto_picks_by_the_machine_and_says_why(
    speaker_models_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="gigaam_api.speakers.registry"):
        caps = _embedder(speaker_models_dir, "auto", "auto").capabilities
    (line,) = [r.getMessage() for r in caplog.records if r.name == "gigaam_api.speakers.registry"]
    assert line.startswith(
        f"speaker model {DEFAULT_SPEAKER_MODEL} on the CPU: {caps.runtime}, {caps.precision} (auto:"
    )
    machine = probe()
    if machine.openvino_cpu and machine.architecture == "x86_64" and "avx512f" in machine.cpu_flags:
        assert caps.runtime == "openvino"
        assert caps.precision == ("bf16" if machine.openvino_bf16 else "fp32")
    else:
        assert (caps.runtime, caps.precision) == ("onnxruntime", "fp32")
    assert caps.detail.startswith("resemblyzer GE2E") and "auto:" in caps.detail


def test_a_setting_this_machine_cannot_run_is_a_503_with_the_operators_message_logged(
    speaker_models_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    audio, _ = conversation(*TWO)
    wav = write_wav(tmp_path / "call.wav", audio).read_bytes()
    server = offline_speaker_server(
        speaker_models_dir,
        tmp_path / "spool",
        tmp_path / "jobs",
        SPEAKER_RUNTIME="onnxruntime",
        SPEAKER_PRECISION="bf16",
    )
    try:
        client = server.client()
        with caplog.at_level(logging.ERROR), pytest.raises(openai.InternalServerError) as info:
            client.audio.transcriptions.create(
                model="whisper-1", file=("call.wav", wav), response_format="diarized_json"
            )
        assert (info.value.status_code, info.value.code) == (503, "speaker_model_unavailable")
        logged = [r for r in caplog.records if "SPEAKER_PRECISION=bf16 runs on OpenVINO" in r.getMessage()]
        assert logged and all(r.exc_info is None for r in logged)  # the message itself, not a traceback
        assert client.audio.transcriptions.create(model="whisper-1", file=("call.wav", wav)).text
    finally:
        server.stop()
