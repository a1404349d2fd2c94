"""The real Silero model on espeak-ng speech: phrases found where they are, the numpy network and its
batching agree with ONNX Runtime's sequential pass."""

from __future__ import annotations

import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnx
import pytest
from onnx import numpy_helper

from gigaam_api.audio.rate import SAMPLE_RATE
from gigaam_api.vad import silero as vad_module
from gigaam_api.vad.chunking import FRAME_SAMPLES, ChunkingSettings, IncrementalChunker
from gigaam_api.vad.silero import SileroVad, frame_count, silero_model_path
from gigaam_api.vad.silero_numpy import load_weights
from tests.fixtures.silero_reference import sequential_probabilities

Audio = npt.NDArray[np.float32]
PHRASES = (
    "Добрый день, уважаемые коллеги.",
    "Сегодня мы обсудим результаты работы за прошлый квартал.",
    "Продажи выросли на двенадцать процентов.",
    "Следующий вопрос касается бюджета на будущий год.",
)
PAUSES = (0.7, 1.2, 2.0, 1.5)
FALLBACK = "Silero VAD runs on ONNX Runtime"  # the warning when the numpy network is not used


def say(text: str, path: Path) -> Audio:
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is missing: apt-get install espeak-ng")
    subprocess.run(["espeak-ng", "-v", "ru", "-w", str(path), text], check=True)
    with wave.open(str(path)) as w:
        rate = w.getframerate()
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float32) / 32768
    n = len(pcm) * SAMPLE_RATE // rate
    resampled: Audio = np.interp(np.arange(n) * rate / SAMPLE_RATE, np.arange(len(pcm)), pcm).astype(
        np.float32
    )
    return resampled


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[Audio]:
    folder = tmp_path_factory.mktemp("speech")
    return [say(text, folder / f"{i}.wav") for i, text in enumerate(PHRASES)]


@pytest.fixture(scope="module")
def vad() -> SileroVad:
    return SileroVad()


def conversation(clips: list[Audio], seconds: float) -> tuple[Audio, list[tuple[float, float]]]:
    """Phrases cycled with known pauses, plus faint noise; returns the audio and phrase positions."""
    parts: list[Audio] = [np.zeros(SAMPLE_RATE // 2, dtype=np.float32)]
    spans: list[tuple[float, float]] = []
    at = len(parts[0])
    i = 0
    while at < seconds * SAMPLE_RATE:
        clip = clips[i % len(clips)]
        # espeak pads its output with near-silence: the phrase is where the signal is audible.
        loud = np.flatnonzero(np.abs(clip) > 0.02)
        spans.append(((at + loud[0]) / SAMPLE_RATE, (at + loud[-1]) / SAMPLE_RATE))
        pause = np.zeros(int(PAUSES[i % len(PAUSES)] * SAMPLE_RATE), dtype=np.float32)
        parts += [clip, pause]
        at += len(clip) + len(pause)
        i += 1
    audio = np.concatenate(parts)
    audio += np.random.default_rng(0).normal(0, 0.002, len(audio)).astype(np.float32)
    return audio, spans


def test_model_ships_in_the_wheel() -> None:
    assert silero_model_path().name == "silero_vad.onnx"


def test_weights_read_without_onnx_match_onnx() -> None:
    """The small protobuf reader finds the 16 kHz branch's constants, bit for bit."""
    model = onnx.load(str(silero_model_path()))
    expected = {}
    for attribute in model.graph.node[2].attribute:  # the If on sr == 16000
        if attribute.name == "then_branch":
            for node in attribute.g.node:
                if node.op_type == "Constant":
                    expected[node.output[0].split("__")[-1]] = numpy_helper.to_array(node.attribute[0].t)
    weights = load_weights(silero_model_path())
    assert weights
    for name, value in weights.items():
        np.testing.assert_array_equal(value, expected[name])


def test_numpy_network_matches_onnx_runtime(caplog: pytest.LogCaptureFixture, clips: list[Audio]) -> None:
    """One sequence over the whole audio: the same model, up to float32 rounding."""
    audio, _ = conversation(clips, 60)
    whole = SileroVad(stretch_seconds=3600).probabilities(audio)
    assert FALLBACK not in caplog.text, "the numpy network passed its start-up check"
    reference = sequential_probabilities(audio)
    assert reference.max() > 0.9  # there is speech
    np.testing.assert_allclose(whole, reference, atol=1e-4)


def test_falls_back_to_onnx_runtime(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, clips: list[Audio]
) -> None:
    """A model the numpy network does not reproduce runs on ONNX Runtime, batched the same way."""
    monkeypatch.setattr(vad_module, "SELF_CHECK_TOLERANCE", -1.0)
    slow = SileroVad(stretch_seconds=5, warmup_seconds=1)
    assert FALLBACK in caplog.text
    monkeypatch.undo()
    fast = SileroVad(stretch_seconds=5, warmup_seconds=1)
    audio, _ = conversation(clips, 15)
    np.testing.assert_allclose(slow.probabilities(audio), fast.probabilities(audio), atol=1e-4)


def test_phrases_are_found_where_they_are(vad: SileroVad, clips: list[Audio]) -> None:
    audio, spans = conversation(clips, 40)
    probs = vad.probabilities(audio)
    assert len(probs) == frame_count(len(audio))
    chunker = IncrementalChunker(ChunkingSettings(min_s=0.5, max_s=1.0, hard_max_s=30))
    chunks = chunker.push(probs) + chunker.finish()
    # With tiny chunk targets every phrase becomes its own chunk. Silero's probability decays for a few
    # hundred ms after speech, so the end may trail the audible end a little more than the start leads.
    assert len(chunks) == len(spans)
    for chunk, (start, end) in zip(chunks, spans, strict=True):
        assert abs(chunk.start / SAMPLE_RATE - start) < 0.3
        assert -0.3 < chunk.end / SAMPLE_RATE - end < 0.5


def test_batched_agrees_with_sequential(vad: SileroVad, clips: list[Audio]) -> None:
    """Independent 30-s stretches (4-s warm-up) against ONNX Runtime's one sequential pass."""
    audio, _ = conversation(clips, 150)
    reference = sequential_probabilities(audio)
    batched = vad.probabilities(audio)
    assert len(batched) == len(reference)
    agreement = np.mean((batched >= 0.25) == (reference >= 0.25))
    assert agreement >= 0.99
    # The first stretch starts where the sequential pass does: the same numbers.
    first = round(30 * SAMPLE_RATE / FRAME_SAMPLES)
    np.testing.assert_allclose(batched[:first], reference[:first], atol=1e-4)


def test_windows_with_warmup_match_one_call(vad: SileroVad, clips: list[Audio]) -> None:
    """Consecutive windows, each given the previous tail, give the frames of one call."""
    audio, _ = conversation(clips, 70)
    window = 20 * SAMPLE_RATE + 100  # not frame-aligned on purpose: the pipeline aligns, we check
    window -= window % FRAME_SAMPLES
    parts = [
        vad.probabilities(audio[at : at + window], warmup=audio[max(0, at - vad.warmup_samples) : at])
        for at in range(0, len(audio), window)
    ]
    windowed = np.concatenate(parts)
    whole = sequential_probabilities(audio)
    assert len(windowed) == len(whole)
    assert np.mean((windowed >= 0.25) == (whole >= 0.25)) >= 0.99
    # The first window starts at the file start with no warm-up: identical to the sequential pass.
    first = len(parts[0])
    np.testing.assert_allclose(windowed[:first], whole[:first], atol=1e-4)


def test_silence_has_no_speech(vad: SileroVad) -> None:
    quiet = np.random.default_rng(1).normal(0, 0.002, 30 * SAMPLE_RATE).astype(np.float32)
    for audio in (np.zeros(30 * SAMPLE_RATE, dtype=np.float32), quiet):
        assert vad.probabilities(audio).max() < 0.25


def test_empty_and_partial_frames(vad: SileroVad) -> None:
    assert len(vad.probabilities(np.zeros(0, dtype=np.float32))) == 0
    assert len(vad.probabilities(np.zeros(FRAME_SAMPLES + 1, dtype=np.float32))) == 2
