"""A request's options against what the engine declares: 400 for what it cannot honour, never a silent gap."""

from __future__ import annotations

import pytest

from gigaam_api.engines.base import EngineOptions
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
