from __future__ import annotations

import itertools
import re
from dataclasses import replace

import pytest

from gigaam_api.formats.subtitles import Cue, cut_cues, srt, vtt
from gigaam_api.transcript import Segment, Word

SPEECH = (
    "Добрый день. Сегодня мы поговорим о том, как устроено распознавание речи, и почему оно "
    "работает так хорошо на русском языке. Модель слушает звук, находит слова и расставляет знаки "
    "препинания. Спасибо за внимание."
)


def spoken(text: str, *, start: float = 0.0, per_char: float = 0.07, pause: float = 0.05) -> tuple[Word, ...]:
    """Words spoken back to back at a steady pace, with a short pause after each."""
    words: list[Word] = []
    t = start
    for text_word in text.split():
        end = t + per_char * len(text_word)
        words.append(Word(text_word, round(t, 3), round(end, 3)))
        t = end + pause
    return tuple(words)


def segment(words: tuple[Word, ...], *, seg_id: int = 0, tail: float = 0.3) -> Segment:
    return Segment(seg_id, words[0].start, words[-1].end + tail, " ".join(w.word for w in words), words=words)


def cue_text(cues: list[Cue]) -> str:
    return " ".join(line for c in cues for line in c.lines)


def test_srt_and_vtt_layout() -> None:
    cues = [Cue(0.0, 2.58, ("Добрый день.",)), Cue(3.0, 5.5, ("Как дела?", "Хорошо & <тихо>"))]
    assert srt(cues) == (
        "1\n00:00:00,000 --> 00:00:02,580\nДобрый день.\n\n"
        "2\n00:00:03,000 --> 00:00:05,500\nКак дела?\nХорошо & <тихо>\n"
    )
    assert vtt(cues) == (
        "WEBVTT\n\n"
        "00:00:00.000 --> 00:00:02.580\nДобрый день.\n\n"
        "00:00:03.000 --> 00:00:05.500\nКак дела?\nХорошо &amp; &lt;тихо&gt;\n"
    )


@pytest.mark.parametrize(
    ("seconds", "stamp"),
    [
        (0.0, "00:00:00,000"),
        (1.9996, "00:00:02,000"),
        (59.9999, "00:01:00,000"),
        (36000.0, "10:00:00,000"),
        (3723.004, "01:02:03,004"),
        (-0.01, "00:00:00,000"),
    ],
)
def test_timestamps(seconds: float, stamp: str) -> None:
    assert srt([Cue(seconds, seconds, ("x",))]).splitlines()[1] == f"{stamp} --> {stamp}"
    assert vtt([Cue(seconds, seconds, ("x",))]).splitlines()[2] == f"{stamp} --> {stamp}".replace(",", ".")


def test_empty_input() -> None:
    assert cut_cues([]) == []
    assert cut_cues([Segment(0, 0.0, 1.0, "")]) == []
    assert srt([]) == ""
    assert vtt([]).startswith("WEBVTT\n")


def test_cues_respect_the_limits_and_keep_every_word() -> None:
    words = spoken(SPEECH)
    cues = cut_cues([segment(words)])
    assert cue_text(cues) == SPEECH
    assert len(cues) > 2
    for cue in cues:
        assert 1 <= len(cue.lines) <= 2
        assert all(len(line) <= 42 for line in cue.lines)
        assert cue.end - cue.start <= 7.0
    for before, after in itertools.pairwise(cues):
        assert before.end <= after.start


def test_full_cue_breaks_at_a_sentence_end() -> None:
    cues = cut_cues([segment(spoken(SPEECH))])
    # The first cue cannot hold the first two sentences; it ends at punctuation, not mid-clause.
    assert all(re.search(r"[.,!?]$", c.lines[-1]) for c in cues)


def test_two_lines_are_balanced() -> None:
    text = "раз два три четыре пять шесть семь восемь девять десять"
    (cue,) = cut_cues([segment(spoken(text, per_char=0.02))])
    assert len(cue.lines) == 2
    assert abs(len(cue.lines[0]) - len(cue.lines[1])) <= 6


def test_long_pause_starts_a_new_cue() -> None:
    words = (*spoken("Да.", start=0.0), *spoken("Нет.", start=2.0))
    cues = cut_cues([segment(words)])
    assert [c.lines for c in cues] == [("Да.",), ("Нет.",)]


def test_short_cue_is_stretched_into_the_silence_but_never_overlaps() -> None:
    words = (Word("Да.", 0.0, 0.3), Word("Нет.", 0.9, 1.2), Word("Ага.", 5.0, 5.2))
    cues = cut_cues([Segment(0, 0.0, 5.4, "Да. Нет. Ага.", words=words)])
    assert [(c.start, c.end) for c in cues] == [(0.0, 0.9), (0.9, 1.9), (5.0, 5.4)]


def test_last_cue_may_stay_until_the_next_segment() -> None:
    first = Segment(0, 0.0, 0.5, "Да.", words=(Word("Да.", 0.0, 0.4),))
    second = Segment(1, 3.0, 3.5, "Нет.", words=(Word("Нет.", 3.0, 3.4),))
    together = cut_cues([first, second])
    assert [(c.start, c.end) for c in together] == [(0.0, 1.0), (3.0, 3.5)]
    # Cut one segment at a time (as a stream would), a cue stays within its segment.
    assert cut_cues([first]) + cut_cues([second]) == [Cue(0.0, 0.5, ("Да.",)), Cue(3.0, 3.5, ("Нет.",))]


def test_cues_are_cut_per_segment() -> None:
    first = segment(spoken(SPEECH))
    second = segment(spoken(SPEECH, start=first.end + 0.2), seg_id=1)
    assert cut_cues([first, second]) == cut_cues([first]) + cut_cues([second])


def test_long_word_gets_its_own_line() -> None:
    long_word = "электро" * 7
    words = spoken(f"это {long_word} слово", per_char=0.01)
    cues = cut_cues([segment(words)])
    lines = [line for c in cues for line in c.lines]
    assert long_word in lines
    assert cue_text(cues) == f"это {long_word} слово"


def test_a_cue_never_outlasts_seven_seconds_of_steady_speech() -> None:
    words = spoken("ну " * 40, per_char=0.2, pause=0.1)
    cues = cut_cues([segment(words)])
    assert len(cues) >= 3
    assert all(c.end - c.start <= 7.0 for c in cues)


def test_segment_without_words_is_spread_over_its_span() -> None:
    text = "Этот сегмент пришёл без временных меток слов, но его всё равно нужно показать зрителю целиком."
    cues = cut_cues([Segment(0, 10.0, 16.0, text)])
    assert cue_text(cues) == text
    assert cues[0].start == 10.0
    assert cues[-1].end == pytest.approx(16.0)
    assert all(len(line) <= 42 for c in cues for line in c.lines)


def test_diarized_cues_name_their_speaker() -> None:
    first = segment(spoken("Добрый день. Как дела?"))
    second = segment(spoken("Хорошо, спасибо <всем>.", start=3.0), seg_id=1)
    cues = cut_cues([replace(first, speaker="A"), replace(second, speaker="Olga & co")])

    assert srt(cues).split("\n\n")[1].split("\n")[2] == "Olga & co: Хорошо, спасибо <всем>."
    assert srt(cues).split("\n")[2] == "A: Добрый день. Как дела?"
    assert "<v A>Добрый день. Как дела?\n" in vtt(cues)
    assert "<v Olga &amp; co>Хорошо, спасибо &lt;всем&gt;.\n" in vtt(cues)
    assert "<v" not in vtt(cut_cues([first, second]))  # not diarized: no voice spans
