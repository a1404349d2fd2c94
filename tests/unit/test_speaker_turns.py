"""Speaker labels and attributing speakers to transcript segments (pure functions)."""

from __future__ import annotations

import pytest

from gigaam_api.speakers.turns import Turn, attribute, merge_turns, speaker_at, speaker_label
from gigaam_api.transcript import Segment, Token, Word


def test_labels_follow_openai_letters_past_z() -> None:
    assert [speaker_label(i) for i in (0, 1, 25, 26, 27, 51, 52)] == ["A", "B", "Z", "AA", "AB", "AZ", "BA"]


def test_merge_joins_one_speakers_turns_only_across_allowed_pauses() -> None:
    turns = [Turn(0, 1, "A"), Turn(1, 2, "A"), Turn(2.5, 3, "A"), Turn(3, 4, "B")]
    assert merge_turns(turns, max_gap=0.0) == [Turn(0, 2, "A"), Turn(2.5, 3, "A"), Turn(3, 4, "B")]
    assert merge_turns(turns) == [Turn(0, 3, "A"), Turn(3, 4, "B")]


def test_a_word_goes_to_the_speaker_it_overlaps_most_else_the_nearest() -> None:
    turns = [Turn(0, 2, "A"), Turn(2, 5, "B"), Turn(8, 9, "A")]
    assert speaker_at(1.5, 2.6, turns) == "B"
    assert speaker_at(6.0, 6.2, turns) == "B"  # in a pause: the nearer turn
    assert speaker_at(7.5, 7.7, turns) == "A"
    assert speaker_at(0, 1, []) is None


def _segment(seg_id: int, start: float, end: float, words: list[tuple[str, float, float]]) -> Segment:
    timed = tuple(Word(w, s, e) for w, s, e in words)
    tokens = tuple(Token(i, w, s, -0.1 * (i + 1)) for i, (w, s, _) in enumerate(words))
    return Segment(
        seg_id, start, end, " ".join(w for w, _, _ in words), tokens=tuple(t.id for t in tokens),
        words=timed, logprobs=tokens,
    )  # fmt: skip


def test_a_segment_splits_where_the_speaker_changes_between_its_words() -> None:
    segment = _segment(
        3,
        10.0,
        16.0,
        [("добрый", 10.1, 10.5), ("день", 10.6, 11.0), ("здравствуйте", 12.0, 13.0), ("да", 15.0, 15.5)],
    )
    turns = [Turn(10.0, 11.2, "A"), Turn(11.8, 13.2, "B"), Turn(14.9, 15.6, "A")]

    pieces = attribute([segment], turns)

    assert [(p.id, p.speaker, p.text) for p in pieces] == [
        (3, "A", "добрый день"), (4, "B", "здравствуйте"), (5, "A", "да")
    ]  # fmt: skip
    assert [(p.start, p.end) for p in pieces] == [(10.0, 12.0), (12.0, 15.0), (15.0, 16.0)]
    assert [p.words for p in pieces] == [segment.words[:2], segment.words[2:3], segment.words[3:]]
    assert [p.tokens for p in pieces] == [(0, 1), (2,), (3,)]  # tokens follow their times
    assert pieces[1].avg_logprob == pytest.approx(-0.3)


def test_one_speaker_keeps_the_segment_whole_and_ids_continue() -> None:
    first = _segment(0, 0.0, 2.0, [("раз", 0.1, 0.5), ("два", 0.6, 1.0)])
    second = Segment(1, 3.0, 4.0, "без слов")  # an engine without word times: whole, by overlap
    turns = [Turn(0.0, 2.0, "Анна"), Turn(2.9, 4.0, "B")]

    pieces = attribute([first, second], turns, first_id=7)

    assert [(p.id, p.speaker, p.text) for p in pieces] == [(7, "Анна", "раз два"), (8, "B", "без слов")]
    assert pieces[0].words == first.words and pieces[0].logprobs == first.logprobs
