"""The pure parts of translation: batches, the check of the LLM's answer, translated words' times."""

from __future__ import annotations

import json

import pytest

from gigaam_api.transcript import Word
from gigaam_api.translation.batches import BatchMismatchError, Item, halves, messages, parse_answer, split
from gigaam_api.translation.timing import retimed

BATCH = [Item(3, "добрый день"), Item(4, "коллеги")]


def _answer(*pairs: tuple[object, object]) -> str:
    return json.dumps({"segments": [{"id": i, "text": t} for i, t in pairs]})


def test_split_and_halves_keep_the_order() -> None:
    items = [Item(i, str(i)) for i in range(5)]
    assert split(items, 2) == [items[0:2], items[2:4], items[4:5]]
    assert halves(items) == [items[:3], items[3:]]
    assert halves(items[:2]) == [items[:1], items[1:2]]


def test_the_batch_goes_out_as_json_with_its_ids() -> None:
    system, user = messages(BATCH, "de", prompt="Сбер")
    assert "German" in system["content"] and "Сбер" in system["content"]
    assert json.loads(user["content"]) == {
        "segments": [{"id": 3, "text": "добрый день"}, {"id": 4, "text": "коллеги"}]
    }


@pytest.mark.parametrize(
    "content",
    [
        _answer((3, "good afternoon"), (4, "colleagues")),
        "```json\n" + _answer((3, "good afternoon"), (4, "colleagues")) + "\n```",
        "Sure! Here it is:\n```\n" + _answer((3, "good afternoon"), (4, "colleagues")) + "\n```\nEnjoy.",
        json.dumps([{"id": 3, "text": "good afternoon"}, {"id": "4", "text": " colleagues "}]),
        json.dumps({"translations": [{"id": 3, "text": "good afternoon"}, {"id": 4, "text": "colleagues"}]}),
        # A reasoning model's thoughts first, braces and brackets in them ({"id": 3, ...}, [3, 4]).
        '<think>\nThey sent {"segments": [{"id": 3, ...}]}; ids [3, 4] must come back.\n</think>\n\n'
        + _answer((3, "good afternoon"), (4, "colleagues")),
    ],
)
def test_answers_with_the_same_ids_are_accepted_however_wrapped(content: str) -> None:
    assert parse_answer(content, BATCH) == {3: "good afternoon", 4: "colleagues"}


def test_a_text_that_comes_back_empty_keeps_the_original() -> None:
    texts = parse_answer(_answer((3, " "), (4, "colleagues")), BATCH)
    assert texts == {3: BATCH[0].text, 4: "colleagues"}


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (_answer((3, "good afternoon")), "missing segment ids 4"),
        (_answer((3, "a"), (4, "b"), (5, "c")), "unknown segment ids 5"),
        (_answer((3, "a"), (3, "b")), "twice"),
        (_answer((3, "a"), (4, None)), "segment 4 has no text"),
        (_answer((True, "a"), (4, "b")), "no integer id"),
        ("I cannot translate this.", "not JSON"),
        (json.dumps({"a": [], "b": []}), "no list of segments"),
        (json.dumps(["a", "b"]), "not an object"),
    ],
)
def test_answers_that_do_not_match_say_why(content: str, reason: str) -> None:
    with pytest.raises(BatchMismatchError, match=reason):
        parse_answer(content, BATCH)


def test_as_many_words_keep_the_original_times() -> None:
    original = [Word("добрый", 0.5, 0.9), Word("день", 1.0, 1.3), Word("коллеги", 2.0, 2.6)]
    assert retimed("GOOD DAY COLLEAGUES", original) == (
        Word("GOOD", 0.5, 0.9),
        Word("DAY", 1.0, 1.3),
        Word("COLLEAGUES", 2.0, 2.6),
    )


def test_more_or_fewer_words_share_the_original_spans_in_order() -> None:
    original = [Word("a", 0.0, 1.0), Word("b", 2.0, 3.0)]
    assert retimed("w x y z", original) == (
        Word("w", 0.0, 0.5),
        Word("x", 0.5, 1.0),
        Word("y", 2.0, 2.5),
        Word("z", 2.5, 3.0),
    )
    assert retimed("one", original) == (Word("one", 0.0, 3.0),)
    assert retimed("", original) == ()
    assert retimed("one", []) == ()
