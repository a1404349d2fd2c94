"""Keywords through the real GigaAM engine: every model layout, ONNX Runtime and OpenVINO, on the
generated models, built by the registry as the server builds them.

The generated models' letters are nearly uniform (their weights are random), so the model cannot say
which words the audio does not hold; the crafted matrices of tests/unit/test_biased_search.py show that.
Here: a phrase one letter away from a word greedy decoding wrote replaces that word, in its place,
with words, timestamps and token log-probabilities as meaningful as without keywords.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from gigaam_api.audio.rate import SAMPLE_RATE
from gigaam_api.config import load_settings
from gigaam_api.engines.base import ASREngine, ChunkResult, EngineOptions
from gigaam_api.engines.gigaam.biased import _Rnnt
from gigaam_api.engines.keywords import CYRILLIC, MAX_BOOST
from gigaam_api.engines.registry import create_engine
from tests.fixtures.phrases import near_miss
from tests.fixtures.speech import PHRASES, require_espeak, synthesize
from tests.fixtures.tiny_model import MODEL_FILES, write_tiny_model

CONFIGS = [
    *(pytest.param(model, "onnxruntime", id=f"{model}-ort") for model in MODEL_FILES),
    *(pytest.param(model, "openvino", id=f"{model}-ov") for model in ("gigaam-v3-ctc", "gigaam-v3-rnnt")),
]
Audio = np.ndarray[Any, np.dtype[np.float32]]


@pytest.fixture(scope="module")
def engine_for(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, str], ASREngine]:
    root = tmp_path_factory.mktemp("keyword-models")
    built: dict[tuple[str, str], ASREngine] = {}

    def get(model: str, runtime: str) -> ASREngine:
        if (model, runtime) not in built:
            write_tiny_model(root / model, model)
            settings = load_settings(
                _env_file=None,
                MODEL=model,
                MODELS_DIR=root,
                OFFLINE=True,
                NUM_THREADS=1,
                DEVICE="cpu",
                RUNTIME=runtime,
                PRECISION="fp32",
            )
            built[model, runtime] = create_engine(settings)
        return built[model, runtime]

    return get


@pytest.fixture(scope="module")
def speech() -> list[Audio]:
    require_espeak()
    return [synthesize(text) for text in PHRASES.values()]


def check_detail(result: ChunkResult, seconds: float) -> None:
    assert result.words is not None and result.tokens
    starts = [w.start for w in result.words]
    assert starts == sorted(starts)
    assert all(0 <= w.start <= w.end <= seconds + 1e-6 for w in result.words)
    assert "".join(w.word for w in result.words) == "".join(result.text.split())
    assert all(t.id >= 0 and t.logprob <= 0 for t in result.tokens)
    assert "".join(t.text for t in result.tokens).replace(" ", "") == result.text.replace(" ", "")


@pytest.mark.parametrize(("model", "runtime"), CONFIGS)
def test_a_keyword_replaces_its_near_miss_in_place(
    engine_for: Callable[[str, str], ASREngine], speech: list[Audio], model: str, runtime: str
) -> None:
    engine = engine_for(model, runtime)
    assert engine.capabilities.keywords and engine.capabilities.keyword_letters == CYRILLIC
    greedy = engine.transcribe_batch(speech, EngineOptions())
    assert greedy[0].words is not None
    heard = next(w for w in greedy[0].words if len(w.word) >= 4 and w.word.isalpha())
    keyword = near_miss(heard.word.lower())
    assert keyword not in greedy[0].text.lower().split()

    # The largest boost: the generated RNN-T's beam search hears little (see the module's docstring).
    biased = engine.transcribe_batch(speech, EngineOptions(keywords=(keyword,), keyword_boost=MAX_BOOST))

    assert biased[0].words is not None
    placed = [w for w in biased[0].words if w.word.lower().strip(",.?") == keyword]
    assert placed, (keyword, greedy[0].text, biased[0].text)
    assert any(abs(w.start - heard.start) <= 0.2 for w in placed)  # where the near-miss was heard
    for audio, result in zip(speech, biased, strict=True):
        check_detail(result, len(audio) / SAMPLE_RATE)


@pytest.mark.parametrize(("model", "runtime"), CONFIGS[:2])
def test_without_keywords_the_engine_decodes_greedily_as_before(
    engine_for: Callable[[str, str], ASREngine], speech: list[Audio], model: str, runtime: str
) -> None:
    engine = engine_for(model, runtime)
    today = engine.transcribe_batch(speech, EngineOptions())
    assert engine.transcribe_batch(speech, EngineOptions(keyword_boost=5.0)) == today
    # and a boosted search over the same audio is a different decoder (the tiny model's blank is a
    # close runner-up everywhere, so summing alignments changes the text): the switch is real
    assert engine.transcribe_batch(speech, EngineOptions(keywords=("щука",), keyword_boost=0.0)) != today


def test_the_rnnt_bridge_predicts_with_or_without_a_joint_first(
    engine_for: Callable[[str, str], ASREngine],
) -> None:
    # The search always asks the joint before extending a hypothesis, but the bridge must not depend
    # on it: the state after a token is the same either way.
    engine: Any = engine_for("gigaam-v3-rnnt", "onnxruntime")
    asr = engine._recognizers[0].asr
    frame = np.linspace(-1, 1, 34).astype(np.float32)
    bridge = _Rnnt(asr, 34)
    joint_first = bridge.start()
    bridge.joint(joint_first, frame)
    after_joint = bridge.predict(joint_first, 5)
    after_nothing = bridge.predict(bridge.start(), 5)
    assert np.array_equal(bridge.joint(after_joint, frame), bridge.joint(after_nothing, frame))
    # and the state did advance: the generated joint suppresses the token just written
    assert bridge.joint(after_joint, frame)[5] < bridge.joint(bridge.start(), frame)[5] - 50
