"""The test fixtures behave as the rest of the suite assumes: the tiny model through the real onnx-asr
loader, and every synthetic audio file through PyAV."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
import onnx_asr
import onnxruntime as ort
import pytest
from onnx_asr.asr import TimestampedResult

from tests.fixtures import speech
from tests.fixtures.tiny_model import MODEL_FILES, int8_name, vocabulary, write_tiny_model

PHRASES = ("привет как дела сегодня хорошая погода", "в лесу родилась ёлочка в лесу она росла")
# (model, quantization) pairs the recognition tests run through onnx-asr
VARIANTS = [
    ("gigaam-v3-ctc", None),
    ("gigaam-v3-rnnt", None),
    ("gigaam-v3-ctc", "int8"),
    ("gigaam-v3-rnnt", "int8"),
]

Recognizer = onnx_asr.adapters.TimestampedResultsAsrAdapter


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    for model in ("gigaam-v3-ctc", "gigaam-v3-rnnt"):
        write_tiny_model(root / model, model, int8=True)
    return root


@pytest.fixture(scope="module", params=VARIANTS, ids=lambda v: f"{v[0]}-{v[1] or 'fp32'}")
def recognizer(request: pytest.FixtureRequest, models_dir: Path) -> Recognizer:
    model, quantization = request.param
    return _load(models_dir / model, model, quantization)


def _load(directory: Path, model: str, quantization: str | None = None) -> Recognizer:
    asr = onnx_asr.load_model(
        model, str(directory), quantization=quantization, providers=["CPUExecutionProvider"]
    )
    return asr.with_timestamps()


def _recognize(recognizer: Recognizer, audio: npt.NDArray[np.float32]) -> TimestampedResult:
    result = recognizer.recognize(audio)
    assert isinstance(result, TimestampedResult)
    return result


# --- the tiny model ---------------------------------------------------------------------------------


@pytest.mark.parametrize("model", list(MODEL_FILES))
def test_every_model_layout_loads_through_onnx_asr(tmp_path: Path, model: str) -> None:
    write_tiny_model(tmp_path, model, int8=True)

    onnx_files = [f for f in MODEL_FILES[model] if f.endswith(".onnx")]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        MODEL_FILES[model] + list(map(int8_name, onnx_files))
    )
    assert all(p.stat().st_size < 200_000 for p in tmp_path.iterdir())
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["version"] == ("v2" if "-v2-" in model else "v3")

    silence = np.zeros(16_000, np.float32)
    assert _recognize(_load(tmp_path, model), silence).text == ""
    assert _recognize(_load(tmp_path, model, "int8"), silence).text == ""


def test_vocabulary_file_is_gigaam_s(tmp_path: Path) -> None:
    write_tiny_model(tmp_path, "gigaam-v3-ctc")

    lines = (tmp_path / "v3_vocab.txt").read_text("utf-8").splitlines()
    assert len(lines) == 34
    assert lines[0] == "\u2581 0"
    assert lines[1] == "а 1"
    assert lines[32] == "я 32"
    assert lines[33] == "<blk> 33"
    assert "ё" not in "".join(lines)
    assert vocabulary("gigaam-v3-ctc") == [line.split(" ")[0] for line in lines]


def test_generation_is_deterministic(tmp_path: Path) -> None:
    first = write_tiny_model(tmp_path / "a", "gigaam-v3-rnnt")
    second = write_tiny_model(tmp_path / "b", "gigaam-v3-rnnt")
    for name in MODEL_FILES["gigaam-v3-rnnt"]:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_silence_and_quiet_noise_are_blank(recognizer: Recognizer) -> None:
    noise = np.random.default_rng(1).normal(0.0, 0.003, 48_000).astype(np.float32)
    assert _recognize(recognizer, np.zeros(16_000, np.float32)).text == ""
    assert _recognize(recognizer, noise).text == ""


def test_speech_gives_several_words_that_follow_the_audio(recognizer: Recognizer) -> None:
    audio = speech.synthesize(PHRASES[0])
    result = _recognize(recognizer, audio)

    assert len(result.text.split()) >= 3
    assert result.tokens is not None
    assert len(set(result.tokens)) >= 8
    assert result.timestamps is not None
    assert result.timestamps == sorted(result.timestamps)
    assert result.timestamps[0] >= 0
    assert result.timestamps[-1] <= len(audio) / 16_000


def test_different_audio_gives_different_text_and_same_audio_the_same(recognizer: Recognizer) -> None:
    first, second = (speech.synthesize(p) for p in PHRASES)
    text = _recognize(recognizer, first).text
    assert _recognize(recognizer, second).text != text
    assert _recognize(recognizer, first.copy()).text == text


def test_batch_of_different_lengths_matches_one_by_one(models_dir: Path) -> None:
    # float models only: dynamic int8 quantizes activations per batch, so padding may change a letter
    for model in ("gigaam-v3-ctc", "gigaam-v3-rnnt"):
        recognizer = _load(models_dir / model, model)
        chunks: list[str | Path | npt.NDArray[np.float32]] = [
            *(speech.synthesize(p) for p in PHRASES),
            np.zeros(8_000, np.float32),
        ]
        batch = recognizer.recognize(chunks)
        assert [r.text for r in batch] == [recognizer.recognize(c).text for c in chunks]
        assert batch[-1].text == ""


@pytest.mark.parametrize("seconds", [0.5, 1.0, 7.3, 30.0])
def test_any_length_gives_finite_log_probs(models_dir: Path, seconds: float) -> None:
    audio = np.resize(speech.synthesize(PHRASES[1]), int(seconds * 16_000))
    result = _recognize(_load(models_dir / "gigaam-v3-ctc", "gigaam-v3-ctc"), audio)
    assert result.text
    assert result.logprobs is not None
    assert np.isfinite(result.logprobs).all()


def test_output_lengths_follow_subsampling_by_four(models_dir: Path) -> None:
    options = {"providers": ["CPUExecutionProvider"]}
    ctc = ort.InferenceSession(models_dir / "gigaam-v3-ctc" / "v3_ctc.onnx", **options)
    encoder = ort.InferenceSession(models_dir / "gigaam-v3-rnnt" / "v3_rnnt_encoder.onnx", **options)
    for frames in (1, 4, 5, 50, 3001):
        features = np.random.default_rng(frames).normal(-5, 3, (2, 64, frames)).astype(np.float32)
        lengths = np.array([frames, (frames + 1) // 2], np.int64)
        expected = (lengths - 1) // 4 + 1

        (log_probs,) = ctc.run(["log_probs"], {"features": features, "feature_lengths": lengths})
        assert log_probs.shape == (2, expected[0], 34)
        assert np.isfinite(log_probs).all()
        assert np.allclose(np.exp(log_probs).sum(axis=-1), 1.0, atol=1e-4)

        encoded, encoded_len = encoder.run(
            ["encoded", "encoded_len"], {"audio_signal": features, "length": lengths}
        )
        assert encoded.shape == (2, 34, expected[0])
        assert encoded_len.dtype == np.int32
        assert encoded_len.tolist() == expected.tolist()


def test_words_fall_inside_the_speech(models_dir: Path) -> None:
    audio, regions = speech.long_speech(PHRASES, [1.0, 2.0, 1.5], noise=0.002)
    result = _recognize(_load(models_dir / "gigaam-v3-ctc", "gigaam-v3-ctc"), audio)

    assert result.timestamps
    for time in result.timestamps:
        assert any(start - 0.1 <= time <= end + 0.1 for start, end in regions), time


# --- synthetic speech -----------------------------------------------------------------------------


def test_synthesize_gives_16k_mono_float_and_caches_a_copy() -> None:
    assert Path(speech.require_espeak()).is_file()
    audio = speech.synthesize(PHRASES[0])
    assert audio.dtype == np.float32
    assert audio.ndim == 1
    assert 1.5 < len(audio) / 16_000 < 5.0
    assert 0.1 < np.abs(audio).max() <= 1.0

    audio[:] = 0
    assert np.abs(speech.synthesize(PHRASES[0])).max() > 0.1
    assert len(speech.synthesize(PHRASES[0], speed=260)) < len(speech.synthesize(PHRASES[0]))


@pytest.mark.parametrize("fmt", speech.FORMATS)
def test_every_format_decodes_back_to_the_same_duration(tmp_path: Path, fmt: str) -> None:
    audio = speech.synthesize(PHRASES[0])
    path = speech.encode(audio, tmp_path / f"speech.{fmt}", fmt)

    decoded = speech.decode(path)
    # lossy codecs add a few ms of priming / padding
    assert abs(len(decoded) - len(audio)) / 16_000 < 0.15
    assert np.abs(decoded).max() > 0.1
    with av.open(str(path)) as container:
        kinds = sorted(stream.type for stream in container.streams)
        assert kinds == (["audio", "video"] if fmt == "mp4" else ["audio"])
        if fmt == "webm":
            assert container.duration is None  # browser-style: no duration in the header


def test_encoded_streams_have_the_advertised_rates(tmp_path: Path) -> None:
    audio = speech.synthesize(PHRASES[1])
    expected = {"mp3": (44_100, 2), "ogg": (48_000, 1), "wav": (16_000, 1)}
    for fmt, (rate, channels) in expected.items():
        with av.open(str(speech.encode(audio, tmp_path / f"a.{fmt}", fmt))) as container:
            stream = container.streams.audio[0]
            assert (stream.rate, stream.channels) == (rate, channels), fmt


def test_write_wav_keeps_rate_and_channels(tmp_path: Path) -> None:
    tone = np.sin(np.arange(8_000) * 0.1).astype(np.float32) * 0.5
    path = speech.write_wav(tmp_path / "stereo.wav", tone, rate=8_000, channels=2)
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        assert (stream.rate, stream.channels) == (8_000, 2)
    assert abs(len(speech.decode(path)) - 16_000) <= 16


def test_bad_inputs_are_bad_in_the_expected_ways(tmp_path: Path) -> None:
    with av.open(str(speech.video_only_mp4(tmp_path / "video.mp4"))) as container:
        assert [stream.type for stream in container.streams] == ["video"]
    for bad in (speech.garbage(tmp_path / "garbage.mp3"), speech.empty(tmp_path / "empty.wav")):
        with pytest.raises(av.error.InvalidDataError):
            av.open(str(bad))
    assert len(speech.decode(speech.zero_sample_wav(tmp_path / "zero.wav"))) == 0

    full = speech.encode(speech.synthesize(PHRASES[0]), tmp_path / "full.mp3", "mp3")
    cut = speech.truncated(full, tmp_path / "cut.mp3", 0.5)
    assert cut.stat().st_size == full.stat().st_size // 2
    assert 0.3 < len(speech.decode(cut)) / len(speech.decode(full)) < 0.7


def test_long_speech_regions_match_the_audio() -> None:
    pauses = [0.5, 2.0, 0.75]
    audio, regions = speech.long_speech(PHRASES, pauses)

    assert len(regions) == 2
    assert regions[0][0] == pytest.approx(0.5)
    assert regions[1][0] - regions[0][1] == pytest.approx(2.0)
    assert len(audio) / 16_000 - regions[1][1] == pytest.approx(0.75)
    for start, end in regions:
        inside = audio[int(start * 16_000) : int(end * 16_000)]
        assert np.abs(inside[:800]).max() > 0.01  # sound within 50 ms of each edge
        assert np.abs(inside[-800:]).max() > 0.01
    in_speech = np.zeros(len(audio), bool)
    for start, end in regions:
        in_speech[round(start * 16_000) : round(end * 16_000)] = True
    assert not audio[~in_speech].any()

    noisy, same_regions = speech.long_speech(PHRASES, pauses[1:2], noise=0.002)
    assert same_regions[0][0] == 0.0
    gap = noisy[int(same_regions[0][1] * 16_000) + 160 : int(same_regions[1][0] * 16_000) - 160]
    assert np.sqrt(np.mean(gap**2)) == pytest.approx(0.002, rel=0.1)
