"""A request's options against what the engine declares: 400 for what it cannot honour, never a silent gap."""

from __future__ import annotations

import pytest

from gigaam_api.engines.base import EngineOptions, ServerVAD
from gigaam_api.engines.keywords import CYRILLIC
from gigaam_api.errors import APIError
from gigaam_api.options.engine import engine_options
from gigaam_api.options.transcription import TranscriptionOptions
from tests.fixtures.engines import capabilities

GIGAAM = capabilities()
TEXT_ONLY = capabilities(
    model_id="text-only",
    languages=frozenset({"en", "ru"}),
    word_timestamps=False,
    token_logprobs=False,
)


def test_supported_options_reach_the_engine() -> None:
    options = TranscriptionOptions(language="ru", prompt="Совещание")

    assert engine_options(options, GIGAAM) == EngineOptions(language="ru", prompt="Совещание")


def test_unsupported_language_names_what_is_available() -> None:
    with pytest.raises(APIError) as info:
        engine_options(TranscriptionOptions(language="en"), GIGAAM)

    assert info.value.status == 400
    assert info.value.param == "language"
    assert "'en'" in info.value.message
    assert "gigaam-v3-ctc" in info.value.message
    assert "ru" in info.value.message


def test_languages_the_engine_lacks_are_refused_unless_language_decides() -> None:
    with pytest.raises(APIError) as info:
        engine_options(TranscriptionOptions(languages=("ru", "en")), GIGAAM)

    assert (info.value.status, info.value.param) == (400, "languages")
    assert "Unsupported languages ru, en" in info.value.message and "gigaam-v3-ctc" in info.value.message
    assert engine_options(TranscriptionOptions(languages=("ru", "en")), TEXT_ONLY) == EngineOptions()
    chosen = TranscriptionOptions(language="ru", languages=("ru", "en"))  # `language` decides alone
    assert engine_options(chosen, GIGAAM) == EngineOptions(language="ru")


def test_word_timestamps_from_a_text_only_engine_are_refused() -> None:
    options = TranscriptionOptions(
        response_format="verbose_json", timestamp_granularities=frozenset({"word"})
    )

    with pytest.raises(APIError) as info:
        engine_options(options, TEXT_ONLY)

    assert info.value.status == 400
    assert info.value.param == "timestamp_granularities"


def test_segment_timestamps_from_a_text_only_engine_are_fine() -> None:
    options = TranscriptionOptions(
        response_format="verbose_json", timestamp_granularities=frozenset({"segment"})
    )

    assert engine_options(options, TEXT_ONLY) == EngineOptions()


def test_logprobs_from_an_engine_without_them_are_refused() -> None:
    with pytest.raises(APIError) as info:
        engine_options(TranscriptionOptions(include_logprobs=True), TEXT_ONLY)

    assert info.value.param == "include"


BIASING = capabilities(keywords=True, keyword_letters=CYRILLIC)


def test_keywords_are_normalised_and_the_glossary_follows() -> None:
    options = TranscriptionOptions(keywords=("Сбербанк", "ГигаАМ"), keyword_boost=2.0)

    requested = engine_options(options, BIASING, glossary=("гигаам", "роснефть"))

    assert requested.keywords == ("сбербанк", "гигаам", "роснефть")
    assert requested.keyword_boost == 2.0


def test_the_glossary_alone_biases_every_request() -> None:
    assert engine_options(TranscriptionOptions(), BIASING, glossary=("роснефть",)).keywords == ("роснефть",)


def test_a_boost_without_keywords_changes_nothing() -> None:
    assert engine_options(TranscriptionOptions(keyword_boost=3.0), BIASING) == EngineOptions()


@pytest.mark.parametrize(
    ("options", "param"),
    [
        (TranscriptionOptions(keywords=("Sberbank",)), "keywords"),
        (TranscriptionOptions(keywords=("а" * 51,)), "keywords"),
        (
            TranscriptionOptions(
                keywords=tuple(chr(0x430 + i // 32) + chr(0x430 + i % 32) for i in range(101))
            ),
            "keywords",
        ),
        (TranscriptionOptions(keywords=("сбер",), keyword_boost=11.0), "keyword_boost"),
        (TranscriptionOptions(keyword_boost=-1.0), "keyword_boost"),
    ],
)
def test_keyword_limits_are_400s_naming_the_field(options: TranscriptionOptions, param: str) -> None:
    with pytest.raises(APIError) as info:
        engine_options(options, BIASING)

    assert (info.value.status, info.value.param) == (400, param)
    assert info.value.message.startswith(param)


def test_an_engine_that_cannot_bias_refuses_keywords_but_ignores_the_glossary() -> None:
    with pytest.raises(APIError) as info:
        engine_options(TranscriptionOptions(keywords=("сбер",)), TEXT_ONLY)

    assert (info.value.param, info.value.code) == ("keywords", "unsupported_option")
    assert "text-only" in info.value.message
    assert engine_options(TranscriptionOptions(), TEXT_ONLY, glossary=("сбер",)).keywords == ()


def test_server_vad_travels_with_the_engine_options() -> None:
    vad = ServerVAD(silence_duration_ms=200)

    assert engine_options(TranscriptionOptions(chunking_strategy=vad), GIGAAM).server_vad == vad
    assert engine_options(TranscriptionOptions(chunking_strategy="auto"), GIGAAM).server_vad is None
