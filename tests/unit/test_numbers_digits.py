"""`numbers=digits` through the real grammar (damga): every category, and an engine's result rewritten."""

from __future__ import annotations

import pytest

from gigaam_api.engines.base import ChunkResult
from gigaam_api.numbers.digits import russian_digits, with_digits
from gigaam_api.transcript import Token, Word
from tests.fixtures.words import timed

PHRASES = [
    # cardinals
    ("сто двадцать три", "123"),
    ("два миллиона триста тысяч", "2 300 000"),
    ("минус пять градусов", "-5 градусов"),
    # ordinals
    ("на двадцать третьем этаже", "на 23-м этаже"),
    ("в тысяча девятьсот девяносто первом году", "в 1991 году"),
    # decimals
    ("три целых пять десятых", "3,5"),
    # money
    ("двадцать пять тысяч триста рублей", "25 300 рублей"),
    ("сто рублей пятьдесят копеек", "100 рублей 50 копеек"),
    ("пять долларов пятьдесят центов", "5 долларов 50 центов"),
    # dates
    ("встреча двенадцатого марта", "встреча 12 марта"),
    # times
    ("в десять часов тридцать минут", "в 10:30"),
    # percentages
    ("двадцать пять процентов", "25 %"),
    ("ноль целых две десятых процента", "0,2 %"),
    # phone numbers
    ("плюс семь девятьсот шестнадцать сто двадцать три сорок пять шестьдесят семь", "+7 916 123-45-67"),
    ("восемь девятьсот шестнадцать сто двадцать три сорок пять шестьдесят семь", "8 916 123-45-67"),
    # what must stay words: "один" as a pronoun, text with no numbers
    ("один из них пришёл", "один из них пришёл"),
    ("я один дома", "я один дома"),
    ("мы обсудили план", "мы обсудили план"),
    # an end-to-end head's output: capitals, punctuation, digits already written
    ("Двадцать пять тысяч триста рублей, а потом ещё сто.", "25 300 рублей, а потом ещё 100."),
    ("Встреча в 10:30, 25 человек.", "Встреча в 10:30, 25 человек."),
]


@pytest.mark.parametrize(("spoken", "written"), PHRASES)
def test_every_category_is_written_with_digits(spoken: str, written: str) -> None:
    assert russian_digits()(spoken) == written


def test_a_result_with_words_gets_the_digits_in_its_text_and_its_words() -> None:
    words = timed("итого двадцать пять тысяч триста рублей")
    tokens = (Token(7, " итого", 0.0, -0.1),)
    result = ChunkResult("итого двадцать пять тысяч триста рублей", words, tokens, "ru")

    written = with_digits(result, russian_digits())

    assert written.text == "итого 25 300 рублей"
    assert written.words == (Word("итого", 0.0, 0.5), Word("25 300", 0.5, 2.5), Word("рублей", 2.5, 3.0))
    assert (written.tokens, written.language) == (tokens, "ru")  # what the model decoded, as it was


def test_a_result_without_words_gets_the_digits_in_its_text() -> None:
    result = ChunkResult("двадцать пять процентов")

    assert with_digits(result, russian_digits()) == ChunkResult("25 %")


def test_the_text_keeps_punctuation_the_words_lack() -> None:
    words = timed("сто рублей")
    result = ChunkResult("Сто рублей!", words)

    written = with_digits(result, russian_digits())

    assert written.text == "100 рублей!"
    assert [w.word for w in written.words or ()] == ["100", "рублей"]


def test_silence_is_left_alone() -> None:
    calls: list[str] = []

    def rewrite(text: str) -> str:
        calls.append(text)
        return text

    assert with_digits(ChunkResult("  "), rewrite) == ChunkResult("  ")
    assert calls == []
