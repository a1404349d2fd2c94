"""Keyword limits and normalisation: what the HTTP layer will turn into 400s."""

from __future__ import annotations

import math

import pytest

from gigaam_api.engines.keywords import (
    CYRILLIC,
    DEFAULT_BOOST,
    MAX_PHRASE_CHARS,
    MAX_PHRASES,
    KeywordError,
    check_boost,
    keyword_options,
    normalise_keywords,
)
from tests.fixtures.engines import capabilities


def test_phrases_are_folded_to_what_the_model_writes() -> None:
    got = normalise_keywords(["  Сбер  Банк ", "ЁЛКА", "Нью-Йорк", "сбер банк"], CYRILLIC)
    assert got == ("сбер банк", "елка", "нью йорк")  # case, ё, hyphen, spaces; duplicates dropped


def test_yo_stays_where_the_model_writes_it() -> None:
    assert normalise_keywords(["Ёлка"], CYRILLIC | {"ё"}) == ("ёлка",)


@pytest.mark.parametrize(
    ("phrases", "message"),
    [
        (["Sberbank"], "'Sberbank' has characters the model cannot write: 'abeknrs'"),
        (["сбер2"], "has characters the model cannot write: '2'"),
        (["   "], "a phrase is empty"),
        (["а" * (MAX_PHRASE_CHARS + 1)], f"is longer than {MAX_PHRASE_CHARS} characters"),
        ([f"слово {i:c}" for i in range(ord("а"), ord("а") + 32)] * 4, f"at most {MAX_PHRASES} phrases"),
    ],
)
def test_limits_are_errors_that_name_the_problem(phrases: list[str], message: str) -> None:
    with pytest.raises(KeywordError, match=message.replace("(", r"\(")):
        normalise_keywords(phrases, CYRILLIC)


def test_the_limits_themselves_are_allowed() -> None:
    assert len(normalise_keywords([f"{'а' * 10} {n}" for n in "абвгд"] * 20, CYRILLIC)) == 5
    many = [("абвгдежзий"[i % 10] + "я" * (i // 10 + 1)) for i in range(MAX_PHRASES)]
    assert len(normalise_keywords(many, CYRILLIC)) == MAX_PHRASES
    assert normalise_keywords(["а" * MAX_PHRASE_CHARS], CYRILLIC) == ("а" * MAX_PHRASE_CHARS,)


def test_boost_default_and_bounds() -> None:
    assert check_boost(None) == DEFAULT_BOOST
    assert check_boost(0) == 0.0
    assert check_boost(10) == 10.0
    for bad in (-0.1, 10.5, math.nan, math.inf):
        with pytest.raises(KeywordError, match="keyword_boost: must be between 0 and 10"):
            check_boost(bad)


def test_keyword_options_check_the_engine_and_name_the_field() -> None:
    gigaam = capabilities(keywords=True, keyword_letters=CYRILLIC)
    assert keyword_options(["Сбер Банк"], None, gigaam) == (("сбер банк",), None)
    assert keyword_options([], 2.0, capabilities()) == ((), 2.0)  # nothing to steer: any engine
    with pytest.raises(KeywordError, match=r"model qwen3-asr-0\.6b cannot be steered by keywords") as refused:
        keyword_options(["сбер"], None, capabilities(model_id="qwen3-asr-0.6b"))
    assert refused.value.param == "keywords"
    with pytest.raises(KeywordError) as bad_boost:
        keyword_options(["сбер"], 11.0, gigaam)
    assert bad_boost.value.param == "keyword_boost"


def test_a_refused_phrase_is_quoted_short() -> None:
    """A 60,000-character phrase made a 60 kB error body."""
    with pytest.raises(KeywordError) as info:
        normalise_keywords(["а" + " " * 60_000 + "1"], CYRILLIC)
    assert len(str(info.value)) < 300
