"""One behaviour suite over every engine configuration this machine can run.

Each configuration is built through the registry, exactly as the server builds it, on the generated
models in the hub layout. What every engine must do: text and chunk-relative, monotonic words for speech;
empty results for silence and for audio too short to analyse; a batch gives what its chunks give alone;
a closed job runs no further batch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from gigaam_api.config import load_settings
from gigaam_api.engines.base import SAMPLE_RATE, ASREngine, ChunkResult, EngineOptions
from gigaam_api.engines.registry import create_engine
from gigaam_api.engines.runtime import probe
from gigaam_api.pipeline.scheduler import InferenceScheduler
from tests.conftest import PHRASES
from tests.fixtures.engines import WatchedEngine
from tests.fixtures.speech import require_espeak, synthesize
from tests.fixtures.tiny_model import MODEL_FILES, write_tiny_model

# Every runtime/precision setting to run each model with (the contract holds for all of them).
RUNTIMES: dict[str, dict[str, Any]] = {
    "ort-fp32": {"RUNTIME": "onnxruntime", "PRECISION": "fp32"},
    "ort-int8": {"RUNTIME": "onnxruntime", "PRECISION": "int8"},
    "ov-fp32": {"RUNTIME": "openvino", "PRECISION": "fp32"},
    "ov-int8": {"RUNTIME": "openvino", "PRECISION": "int8"},  # the weight-only IR, built by NNCF here
    # int8 weights and activations (CTC; RNN-T models fall back to the weight-only IR, as served)
    "ov-int8-static": {"RUNTIME": "openvino", "PRECISION": "int8-static"},
}
if probe(int8_ir_ready=False).openvino_bf16:  # only CPUs with bf16 instructions can run it
    RUNTIMES["ov-int8-bf16"] = {"RUNTIME": "openvino", "PRECISION": "int8-bf16"}
FULL_PRECISION = ("ort-fp32", "ov-fp32")
QWEN = (
    "qwen3-asr-0.6b"  # the tiny random one (tests/fixtures/tiny_qwen.py): real qwen-asr, transformers, torch
)
RUNTIMES["transformers-cpu"] = {"QWEN_DEVICE": "cpu", "QWEN_MAX_NEW_TOKENS": 24}
CONFIGS = [
    *(
        pytest.param(model, runtime, id=f"{model}-{runtime}")
        for model in MODEL_FILES
        for runtime in RUNTIMES
        if runtime != "transformers-cpu"
    ),
    pytest.param(QWEN, "transformers-cpu", id=f"{QWEN}-transformers-cpu"),
]
# Dynamic int8 quantizes activations with scales taken over the whole padded batch, so its results
# may depend on what else is in the batch; only full precision promises batch-independence.
FULL_PRECISION_CONFIGS = [p for p in CONFIGS if p.values[1] in (*FULL_PRECISION, "transformers-cpu")]
# The random tiny Qwen3-ASR cannot tell silence from speech (the real one answers "language None", which
# qwen-asr turns into an empty result); it is held to the too-short rule only.
KNOWS_SILENCE = {QWEN: False}
OPTIONS = EngineOptions(language="ru")


@pytest.fixture(scope="module")
def engine_for(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Callable[[str, str], ASREngine]:
    root = tmp_path_factory.mktemp("contract-models")
    for model in MODEL_FILES:
        write_tiny_model(root / model, model, int8=True)
    built: dict[tuple[str, str], ASREngine] = {}

    def get(model: str, runtime: str) -> ASREngine:
        if (model, runtime) not in built:
            # The tiny Qwen3-ASR is built once per session, and only when a test asks for it.
            models_dir = request.getfixturevalue("qwen_models_dir") if model == QWEN else root
            settings = load_settings(
                _env_file=None,
                MODEL=model,
                MODELS_DIR=models_dir,
                OFFLINE=True,
                NUM_THREADS=1,
                DEVICE="cpu",
                **RUNTIMES[runtime],
            )
            built[model, runtime] = create_engine(settings)
        return built[model, runtime]

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


@pytest.mark.parametrize(("model", "runtime"), CONFIGS)
def test_speech_gives_text_and_chunk_relative_words(
    engine_for: Callable[[str, str], ASREngine],
    speech: list[np.ndarray[Any, np.dtype[np.float32]]],
    model: str,
    runtime: str,
) -> None:
    engine = engine_for(model, runtime)
    caps = engine.capabilities

    results = engine.transcribe_batch(speech, OPTIONS)

    assert caps.model_id == model and "ru" in caps.languages
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
    assert results[0].text != results[1].text


@pytest.mark.parametrize(("model", "runtime"), CONFIGS)
def test_silence_and_too_short_audio_give_empty_results(
    engine_for: Callable[[str, str], ASREngine], model: str, runtime: str
) -> None:
    engine = engine_for(model, runtime)
    ten_ms = (0.5 * np.sin(np.arange(160) / 3)).astype(np.float32)
    one_sample = np.array([0.3], np.float32)

    silence = [np.zeros(2 * SAMPLE_RATE, np.float32)] if KNOWS_SILENCE.get(model, True) else []
    results = engine.transcribe_batch([*silence, ten_ms, one_sample], OPTIONS)

    for result in results:
        assert result.text == ""
        assert not result.words


@pytest.mark.parametrize(("model", "runtime"), FULL_PRECISION_CONFIGS)
def test_a_batch_gives_what_its_chunks_give_alone(
    engine_for: Callable[[str, str], ASREngine],
    speech: list[np.ndarray[Any, np.dtype[np.float32]]],
    model: str,
    runtime: str,
) -> None:
    engine = engine_for(model, runtime)

    together = engine.transcribe_batch(speech, OPTIONS)
    alone = [engine.transcribe_batch([audio], OPTIONS)[0] for audio in speech]

    assert [r.text for r in together] == [r.text for r in alone]
    assert [r.words for r in together] == [r.words for r in alone]


@pytest.mark.parametrize(("model", "runtime"), FULL_PRECISION_CONFIGS)
def test_a_closed_job_runs_no_further_batch(
    engine_for: Callable[[str, str], ASREngine],
    speech: list[np.ndarray[Any, np.dtype[np.float32]]],
    model: str,
    runtime: str,
) -> None:
    watched = WatchedEngine(engine_for(model, runtime), gated=True)
    scheduler = InferenceScheduler()
    try:
        job = scheduler.open_job(interactive=False)
        futures = [
            scheduler.submit(job, lambda: watched.transcribe_batch(speech[:1], OPTIONS)) for _ in range(3)
        ]
        assert watched.started.wait(10)  # the first batch is running, held at the gate
        scheduler.close_job(job)
        watched.gate.set()
        first = futures[0].result(timeout=30)
    finally:
        scheduler.stop()

    assert first[0].text
    assert len(watched.batches) == 1
    assert all(f.cancelled() for f in futures[1:])


@pytest.mark.parametrize("model", list(MODEL_FILES))
def test_full_precision_runtimes_agree(
    engine_for: Callable[[str, str], ASREngine],
    speech: list[np.ndarray[Any, np.dtype[np.float32]]],
    model: str,
) -> None:
    """Same audio, same text, words and tokens on every runtime at full precision."""
    reference, *others = [
        engine_for(model, runtime).transcribe_batch(speech, OPTIONS) for runtime in FULL_PRECISION
    ]
    for results in others:
        assert [r.text for r in results] == [r.text for r in reference]
        assert [r.words for r in results] == [r.words for r in reference]
        for got, want in zip(results, reference, strict=True):
            assert got.tokens is not None and want.tokens is not None
            assert [(t.id, t.start) for t in got.tokens] == [(t.id, t.start) for t in want.tokens]
            np.testing.assert_allclose(
                [t.logprob for t in got.tokens], [t.logprob for t in want.tokens], atol=1e-4
            )


def test_capabilities_say_what_runs_and_why(engine_for: Callable[[str, str], ASREngine]) -> None:
    caps = engine_for("gigaam-v3-ctc", "ov-int8").capabilities
    assert (caps.runtime, caps.device, caps.precision) == ("openvino", "cpu", "int8")
    assert "RUNTIME=openvino" in caps.detail
