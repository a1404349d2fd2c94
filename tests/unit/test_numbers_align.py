"""Word times across a rewrite: a rewritten span takes the times of the words it replaced."""

from __future__ import annotations

import itertools

from gigaam_api.numbers.align import realign
from gigaam_api.transcript import Word
from tests.fixtures.words import timed


def test_a_rewritten_span_is_one_word_from_its_first_start_to_its_last_end() -> None:
    words = timed("итого двадцать пять тысяч триста рублей")

    assert realign(words, ["итого", "25", "300", "рублей"]) == (
        Word("итого", 0.0, 0.5),
        Word("25 300", 0.5, 2.5),
        Word("рублей", 2.5, 3.0),
    )


def test_unchanged_words_keep_their_own_times() -> None:
    words = (Word("встреча", 0.1, 0.6), Word("в", 0.7, 0.8), Word("офисе", 0.9, 1.4))

    assert realign(words, ["встреча", "в", "офисе"]) == words


def test_two_numbers_apart_are_two_words() -> None:
    words = timed("в десять часов тридцать минут на пятом этаже")
    rewritten = ["в", "10:30", "на", "5-м", "этаже"]

    assert realign(words, rewritten) == (
        Word("в", 0.0, 0.5),
        Word("10:30", 0.5, 2.5),
        Word("на", 2.5, 3.0),
        Word("5-м", 3.0, 3.5),
        Word("этаже", 3.5, 4.0),
    )


def test_a_span_at_the_start_and_one_at_the_end() -> None:
    words = timed("сто двадцать три и сорок два")

    assert realign(words, ["123", "и", "42"]) == (
        Word("123", 0.0, 1.5),
        Word("и", 1.5, 2.0),
        Word("42", 2.0, 3.0),
    )


def test_a_token_that_replaces_nothing_gets_a_zero_length_word_where_it_stands() -> None:
    words = timed("плюс семь")

    assert realign(words, ["плюс", "семь", "%"]) == (*words, Word("%", 1.0, 1.0))
    assert realign(words, ["#", "плюс", "семь"]) == (Word("#", 0.0, 0.0), *words)


def test_words_rewritten_into_nothing_are_dropped() -> None:
    words = timed("ну двадцать")

    assert realign(words, ["двадцать"]) == (Word("двадцать", 0.5, 1.0),)


def test_times_never_run_backwards() -> None:
    words = timed(
        "номер восемь девятьсот шестнадцать сто двадцать три сорок пять шестьдесят семь звоните", 0.3
    )
    out = realign(words, ["номер", "8", "916", "123-45-67", "звоните"])

    assert [w.word for w in out] == ["номер", "8 916 123-45-67", "звоните"]
    assert all(a.end <= b.start for a, b in itertools.pairwise(out))
    assert out[1].start == words[1].start
    assert out[1].end == words[-2].end


def test_nothing_in_nothing_out() -> None:
    assert realign((), []) == ()
