"""The context graph's bookkeeping: partial bonus while spelling, kept on completion, taken back otherwise."""

from __future__ import annotations

import pytest

from gigaam_api.engines.context_graph import ContextGraph, ContextState

TOKENS = [" ", *"абвгдежзийклмнопрстуфхцчшщъыьэюя", ",", "▁Сбер", "<blk>"]
ID = {t: i for i, t in enumerate(TOKENS)}


def spell(graph: ContextGraph, *tokens: str) -> ContextState:
    state = graph.start
    for token in tokens:
        state = graph.step(state, ID[token])
    return state


def test_spelling_a_phrase_earns_the_boost_per_letter_and_keeps_it_when_complete() -> None:
    graph = ContextGraph(["кот"], 2.0, TOKENS)
    assert graph.score(spell(graph, "к", "о")) == 4.0
    assert graph.final_score(spell(graph, "к", "о", "т")) == 6.0  # the chunk's end ends the word
    assert graph.final_score(spell(graph, "к", "о", "т", " ", "и")) == 6.0


def test_leaving_a_phrase_before_its_end_takes_the_bonus_back() -> None:
    graph = ContextGraph(["кот"], 2.0, TOKENS)
    assert graph.score(spell(graph, "к", "о", "д")) == 0.0
    assert graph.final_score(spell(graph, "к", "о")) == 0.0
    # a longer word is not the phrase: "котлета" keeps nothing
    assert graph.final_score(spell(graph, "к", "о", "т", "л", "е", "т", "а")) == 0.0
    # nor does the phrase inside a word
    assert graph.final_score(spell(graph, "с", "к", "о", "т")) == 0.0


def test_phrases_sharing_a_prefix_and_repeated_phrases() -> None:
    graph = ContextGraph(["сбер", "сбер банк"], 1.0, TOKENS)
    assert graph.final_score(spell(graph, "с", "б", "е", "р")) == 4.0
    assert graph.final_score(spell(graph, "с", "б", "е", "р", " ", "б", "а", "н", "к")) == 8.0
    # "сбер бар": "сбер" completes, "банк" does not; only "сбер" is paid
    assert graph.final_score(spell(graph, "с", "б", "е", "р", " ", "б", "а", "р")) == 4.0
    assert graph.final_score(spell(graph, "с", "б", "е", "р", " ", "с", "б", "е", "р")) == 8.0


def test_tokens_of_several_letters_case_and_punctuation() -> None:
    graph = ContextGraph(["сбер"], 1.0, TOKENS)
    # a sentencepiece-like token with the word mark and a capital, then a comma, matches the phrase
    assert graph.final_score(spell(graph, "▁Сбер", ",")) == 4.0
    assert graph.final_score(spell(graph, " ", "▁Сбер")) == 4.0


@pytest.mark.parametrize("boost", [0.0, 1.5])
def test_no_phrases_no_bonus(boost: float) -> None:
    graph = ContextGraph([], boost, TOKENS)
    assert graph.final_score(spell(graph, "к", "о", "т")) == 0.0
