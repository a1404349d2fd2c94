"""Choosing the served model for a request by its `model` and `language` (api/model_choice.py), pure."""

from __future__ import annotations

import pytest

from gigaam_api.api.model_choice import choose_model
from gigaam_api.engines.qwen.languages import QWEN_NAMES
from gigaam_api.errors import APIError
from tests.fixtures.engines import capabilities

GIGAAM = capabilities()
QWEN = capabilities(model_id="qwen3-asr-0.6b", languages=frozenset(QWEN_NAMES), token_logprobs=False)
ALIASES = ("whisper-1", "gpt-4o-transcribe")
BOTH = [GIGAAM, QWEN]


def _choose(model: str | None, language: str | None, default: str = "gigaam-v3-ctc") -> str:
    return choose_model(model, language, BOTH, default=default, aliases=ALIASES)


@pytest.mark.parametrize("model", [None, "whisper-1", "gpt-4o-transcribe"])
def test_an_alias_or_no_model_routes_by_language(model: str | None) -> None:
    assert _choose(model, "ru") == "gigaam-v3-ctc"  # the specialist, although both transcribe Russian
    assert _choose(model, "en") == "qwen3-asr-0.6b"
    assert _choose(model, "ja") == "qwen3-asr-0.6b"
    assert _choose(model, None) == "gigaam-v3-ctc"
    assert _choose(model, None, default="qwen3-asr-0.6b") == "qwen3-asr-0.6b"
    assert _choose(model, "ru", default="qwen3-asr-0.6b") == "gigaam-v3-ctc"


@pytest.mark.parametrize(
    ("model", "chosen"),
    [
        ("qwen3-asr-0.6b", "qwen3-asr-0.6b"),
        ("Qwen/Qwen3-ASR-0.6B", "qwen3-asr-0.6b"),
        ("gigaam-v3-ctc", "gigaam-v3-ctc"),
        ("v3_ctc", "gigaam-v3-ctc"),
    ],
)
def test_a_served_model_named_in_any_spelling_takes_the_request(model: str, chosen: str) -> None:
    assert _choose(model, None) == chosen
    assert _choose(model, "ru") == chosen  # named: Russian stays on the named model


def test_a_language_the_named_model_lacks_is_a_400_that_names_who_has_it() -> None:
    with pytest.raises(APIError) as info:
        _choose("gigaam-v3-ctc", "en")
    error = info.value
    assert (error.status, error.param, error.code) == (400, "language", "unsupported_language")
    assert "gigaam-v3-ctc" in error.message and "Use qwen3-asr-0.6b" in error.message


def test_a_language_nobody_serves_is_a_400_that_lists_every_model_and_its_languages() -> None:
    with pytest.raises(APIError) as info:
        _choose(None, "uk")  # Ukrainian: a code the form accepts, in neither model
    message = info.value.message
    assert info.value.code == "unsupported_language"
    assert "gigaam-v3-ctc (ru)" in message and "qwen3-asr-0.6b (ar, cs," in message


@pytest.mark.parametrize("model", ["qwen3-asr-1.7b", "gigaam-v3-rnnt", "gpt-5-ultra"])
def test_a_model_not_served_here_is_a_400_that_lists_the_served_ones_and_the_aliases(model: str) -> None:
    with pytest.raises(APIError) as info:
        _choose(model, None)
    error = info.value
    assert (error.status, error.param, error.code) == (400, "model", "model_not_found")
    assert "gigaam-v3-ctc, qwen3-asr-0.6b" in error.message and "whisper-1" in error.message


def test_one_model_alone_routes_everything_it_can_to_itself() -> None:
    alone = [GIGAAM]
    assert choose_model(None, "ru", alone, default="gigaam-v3-ctc", aliases=ALIASES) == "gigaam-v3-ctc"
    with pytest.raises(APIError):
        choose_model("whisper-1", "en", alone, default="gigaam-v3-ctc", aliases=ALIASES)


def _choose_among(model: str | None, languages: list[str]) -> str:
    return choose_model(model, None, BOTH, default="gigaam-v3-ctc", aliases=ALIASES, languages=languages)


def test_several_languages_pick_a_model_that_transcribes_them_all() -> None:
    assert _choose_among(None, ["ru", "en"]) == "qwen3-asr-0.6b"  # GigaAM alone would lose the English
    assert _choose_among("whisper-1", ["ru", "ja"]) == "qwen3-asr-0.6b"
    assert _choose_among("qwen3-asr-0.6b", ["ru", "en"]) == "qwen3-asr-0.6b"


def test_several_languages_no_model_transcribes_is_a_400_naming_languages() -> None:
    with pytest.raises(APIError) as info:
        _choose_among("gigaam-v3-ctc", ["ru", "en"])
    assert (info.value.param, info.value.code) == ("languages", "unsupported_language")
    assert "ru, en" in info.value.message and "gigaam-v3-ctc" in info.value.message
    with pytest.raises(APIError) as info:
        choose_model(None, None, [GIGAAM], default="gigaam-v3-ctc", aliases=ALIASES, languages=["ru", "en"])
    assert "no served model" in info.value.message


def test_language_decides_over_languages() -> None:
    chosen = choose_model(None, "ru", BOTH, default="gigaam-v3-ctc", aliases=ALIASES, languages=["ru", "en"])
    assert chosen == "gigaam-v3-ctc"
