"""One behaviour suite over every engine configuration this machine can run.

Each configuration is built through the registry, exactly as the server builds it, on the generated
models in the hub layout. What every engine must do: text and chunk-relative, monotonic words for speech;
empty results for silence and for audio too short to analyse; a batch gives what its chunks give alone;
a closed job runs no further batch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gigaam_api.audio.rate import SAMPLE_RATE
from gigaam_api.config import load_settings
from gigaam_api.engines.base import ASREngine, Capabilities, ChunkResult, EngineOptions
from gigaam_api.engines.gigaam.runtime import probe
from gigaam_api.engines.registry import create_engine, resolve_settings
from gigaam_api.pipeline.scheduler import InferenceScheduler
from tests.fixtures.engines import WatchedEngine
from tests.fixtures.speech import PHRASES, require_espeak, synthesize
from tests.fixtures.tiny_model import MODEL_FILES, write_tiny_model
from tests.fixtures.waiting import HANG_GUARD_SECONDS


@dataclass(frozen=True)
class Config:
    """One engine configuration: a model of some family, its settings, and where its test weights are."""

    model: str
    settings: dict[str, Any]
    models_dir: str  # the fixture that provides MODELS_DIR
    full_precision: bool = True  # int8 may depend on the rest of the batch (activation scales)
    # Random weights (the tiny Qwen3-ASR) cannot tell silence from speech; real and rule-based engines can.
    random_weights: bool = False


# Every runtime/precision setting to run each GigaAM model with (the contract holds for all of them).
GIGAAM_RUNTIMES: dict[str, dict[str, Any]] = {
    "ort-fp32": {"GIGAAM_RUNTIME": "onnxruntime", "GIGAAM_PRECISION": "fp32"},
    "ort-int8": {"GIGAAM_RUNTIME": "onnxruntime", "GIGAAM_PRECISION": "int8"},
    "ov-fp32": {"GIGAAM_RUNTIME": "openvino", "GIGAAM_PRECISION": "fp32"},
    "ov-int8": {"GIGAAM_RUNTIME": "openvino", "GIGAAM_PRECISION": "int8"},  # the weight-only IR, by NNCF
    # int8 weights and activations (CTC; RNN-T models fall back to the weight-only IR, as served)
    "ov-int8-static": {"GIGAAM_RUNTIME": "openvino", "GIGAAM_PRECISION": "int8-static"},
}
if probe(int8_ir_ready=False).openvino_bf16:  # only CPUs with bf16 instructions can run it
    GIGAAM_RUNTIMES["ov-int8-bf16"] = {"GIGAAM_RUNTIME": "openvino", "GIGAAM_PRECISION": "int8-bf16"}
CONFIGS: dict[str, Config] = {
    **{
        f"{model}-{runtime}": Config(
            model,
            {"GIGAAM_DEVICE": "cpu", **settings},
            "gigaam_models",
            full_precision=settings["GIGAAM_PRECISION"] == "fp32",
        )
        for model in MODEL_FILES
        for runtime, settings in GIGAAM_RUNTIMES.items()
    },
    # The tiny random Qwen3-ASR (tests/fixtures/tiny_qwen.py): real qwen-asr, transformers, torch.
    "qwen3-asr-0.6b-transformers-cpu": Config(
        "qwen3-asr-0.6b",
        {"QWEN_DEVICE": "cpu", "QWEN_MAX_NEW_TOKENS": 24},
        "qwen_models_dir",
        random_weights=True,
    ),
    # The test-only family, registered through the entry-point group (tests/fixtures/echo_engine.py).
    "echo-1": Config("echo-1", {}, "echo_models"),
}
ALL = list(CONFIGS)
FULL_PRECISION = [name for name, config in CONFIGS.items() if config.full_precision]


def options_for(caps: Capabilities) -> EngineOptions:
    """A language the engine declares: the phrases are Russian, so Russian where it is one."""
    return EngineOptions(language="ru" if "ru" in caps.languages else min(caps.languages))


@pytest.fixture(scope="module")
def gigaam_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("contract-models")
    for model in MODEL_FILES:
        write_tiny_model(root / model, model, int8=True)
    return root


@pytest.fixture(scope="module")
def echo_models(echo_family: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("echo-models")  # the echo family has no weights


@pytest.fixture(scope="module")
def engine_for(request: pytest.FixtureRequest) -> Callable[[str], ASREngine]:
    built: dict[str, ASREngine] = {}

    def get(name: str) -> ASREngine:
        if name not in built:
            config = CONFIGS[name]
            # Each family's test weights are made once, and only when a test asks for them.
            models_dir = request.getfixturevalue(config.models_dir)
            settings = load_settings(
                _env_file=None,
                MODEL=config.model,
                MODELS_DIR=models_dir,
                OFFLINE=True,
                NUM_THREADS=1,
                **config.settings,
            )
            built[name] = create_engine(resolve_settings(settings))
        return built[name]

    return get


@pytest.fixture(scope="module")
def speech() -> list[np.ndarray[Any, np.dtype[np.float32]]]:
    require_espeak()
    return [synthesize(text) for text in PHRASES.values()]


def check_words(result: ChunkResult, seconds: float) -> None:
    assert result.words is not None
    starts = [w.start for w in result.words]
    assert starts == sorted(starts)
    for word, following in zip(result.words, [*result.words[1:], None], strict=True):
        assert 0 <= word.start <= word.end <= seconds + 1e-6
        assert word.word.strip() == word.word and word.word
        if following is not None:
            assert word.end <= following.start + 1e-6
    assert "".join(w.word for w in result.words) == "".join(result.text.split())  # no character lost


@pytest.mark.parametrize("name", ALL)
def test_speech_gives_text_and_chunk_relative_words(
    engine_for: Callable[[str], ASREngine],
    speech: list[np.ndarray[Any, np.dtype[np.float32]]],
    name: str,
) -> None:
    engine = engine_for(name)
    caps = engine.capabilities
    options = options_for(caps)

    results = engine.transcribe_batch(speech, options)

    assert caps.model_id == CONFIGS[name].model
    assert 0 < caps.chunks.preferred_seconds <= caps.chunks.longest_seconds
    assert caps.unspaced_languages <= caps.languages
    assert len(results) == len(speech)
    for audio, result in zip(speech, results, strict=True):
        assert result.text.strip()
        if caps.word_timestamps:
            check_words(result, len(audio) / SAMPLE_RATE)
        else:
            assert result.words is None  # declared honestly: no words rather than made-up ones
        if caps.token_logprobs:
            assert result.tokens
            assert all(t.logprob <= 0 and t.id >= 0 for t in result.tokens)
        else:
            assert result.tokens is None
        # What it used or detected, when it says: one of its languages (labels come from this).
        assert result.language is None or result.language in caps.languages
    assert results[0].text != results[1].text


@pytest.mark.parametrize("name", ALL)
def test_silence_and_too_short_audio_give_empty_results(
    engine_for: Callable[[str], ASREngine], name: str
) -> None:
    engine = engine_for(name)
    ten_ms = (0.5 * np.sin(np.arange(160) / 3)).astype(np.float32)
    one_sample = np.array([0.3], np.float32)

    silence = [] if CONFIGS[name].random_weights else [np.zeros(2 * SAMPLE_RATE, np.float32)]
    results = engine.transcribe_batch([*silence, ten_ms, one_sample], options_for(engine.capabilities))

    for result in results:
        assert result.text == ""
        assert not result.words


@pytest.mark.parametrize("name", FULL_PRECISION)
def test_a_batch_gives_what_its_chunks_give_alone(
    engine_for: Callable[[str], ASREngine],
    speech: list[np.ndarray[Any, np.dtype[np.float32]]],
    name: str,
) -> None:
    engine = engine_for(name)
    options = options_for(engine.capabilities)

    together = engine.transcribe_batch(speech, options)
    alone = [engine.transcribe_batch([audio], options)[0] for audio in speech]

    assert [r.text for r in together] == [r.text for r in alone]
    assert [r.words for r in together] == [r.words for r in alone]


@pytest.mark.parametrize("name", FULL_PRECISION)
def test_a_closed_ticket_runs_no_further_batch(
    engine_for: Callable[[str], ASREngine],
    speech: list[np.ndarray[Any, np.dtype[np.float32]]],
    name: str,
) -> None:
    watched = WatchedEngine(engine_for(name), gated=True)
    options = options_for(watched.capabilities)
    scheduler = InferenceScheduler()
    try:
        job = scheduler.open_ticket(interactive=False)
        futures = [
            scheduler.submit(job, lambda: watched.transcribe_batch(speech[:1], options)) for _ in range(3)
        ]
        assert watched.started.wait(HANG_GUARD_SECONDS)  # the first batch is running, held at the gate
        scheduler.close_ticket(job)
        watched.gate.set()
        first = futures[0].result(timeout=30)
    finally:
        scheduler.stop()

    assert first[0].text
    assert len(watched.batches) == 1
    assert all(f.cancelled() for f in futures[1:])


@pytest.mark.parametrize(
    "model",
    sorted(
        {
            CONFIGS[a].model
            for a in FULL_PRECISION
            for b in FULL_PRECISION
            if a < b and CONFIGS[a].model == CONFIGS[b].model
        }
    ),
)
def test_full_precision_configurations_of_a_model_agree(
    engine_for: Callable[[str], ASREngine],
    speech: list[np.ndarray[Any, np.dtype[np.float32]]],
    model: str,
) -> None:
    """Same audio, same text, words and tokens on every runtime a model has at full precision."""
    names = [name for name in FULL_PRECISION if CONFIGS[name].model == model]
    engines = [engine_for(name) for name in names]
    reference, *others = [e.transcribe_batch(speech, options_for(e.capabilities)) for e in engines]
    for results in others:
        assert [r.text for r in results] == [r.text for r in reference]
        assert [r.words for r in results] == [r.words for r in reference]
        for got, want in zip(results, reference, strict=True):
            assert (got.tokens is None) == (want.tokens is None)
            if got.tokens is None or want.tokens is None:
                continue
            assert [(t.id, t.start) for t in got.tokens] == [(t.id, t.start) for t in want.tokens]
            np.testing.assert_allclose(
                [t.logprob for t in got.tokens], [t.logprob for t in want.tokens], atol=1e-4
            )


def test_capabilities_say_what_runs_and_why(engine_for: Callable[[str], ASREngine]) -> None:
    caps = engine_for("gigaam-v3-ctc-ov-int8").capabilities
    assert (caps.runtime, caps.device, caps.precision) == ("openvino", "cpu", "int8")
    assert "RUNTIME=openvino" in caps.detail
