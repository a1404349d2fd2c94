"""Keyword-biased beam searches on crafted log-probabilities: CTC prefix search and RNN-T beam search."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt
import pytest

from gigaam_api.engines.biased_search import (
    Emission,
    ctc_prefix_beam_search,
    transducer_beam_search,
)
from gigaam_api.engines.context_graph import ContextGraph
from gigaam_api.engines.keywords import DEFAULT_BOOST

LETTERS = "абвгдежзийклмнопрстуфхцчшщъыьэюя"
TOKENS = [" ", *LETTERS, "<blk>"]  # GigaAM's layout: word mark first, blank last
BLANK = len(TOKENS) - 1
ID = {t: i for i, t in enumerate(TOKENS)}
FLOOR = 1e-6  # probability of every token a frame does not name


def frames(*spec: str | Mapping[str, float]) -> npt.NDArray[np.float32]:
    """One row of log-probabilities a frame: "-" is a sure blank, a letter a sure letter, a dict names
    probabilities (the rest of the mass goes to tokens not named, FLOOR each)."""
    rows = []
    for item in spec:
        named = {"<blk>" if item == "-" else item: 1.0} if isinstance(item, str) else dict(item)
        row = np.full(len(TOKENS), FLOOR)
        for token, p in named.items():
            row[ID["<blk>" if token == "-" else token]] = p
        rows.append(np.log(row / row.sum()))
    return np.asarray(rows, np.float32)


def text(emissions: Sequence[Emission]) -> str:
    return "".join(TOKENS[e.token] for e in emissions)


def greedy(logprobs: npt.NDArray[np.float32]) -> str:
    best = logprobs.argmax(axis=1)
    kept = [int(b) for i, b in enumerate(best) if b != BLANK and (i == 0 or b != best[i - 1])]
    return "".join(TOKENS[i] for i in kept)


def graph(*phrases: str, boost: float = DEFAULT_BOOST) -> ContextGraph:
    return ContextGraph(phrases, boost, TOKENS)


def ctc(logprobs: npt.NDArray[np.float32], g: ContextGraph | None = None) -> str:
    return text(ctc_prefix_beam_search(logprobs, BLANK, g))


# "мы в сбере": the first letter of the name is heard as з a little more than as с.
NEAR_MISS = frames(
    "м", "-", "ы", "-", " ", "в", " ", {"з": 0.55, "с": 0.45}, "-", "б", "е", "-", "р", "е", "-"
)


def test_greedy_picks_the_near_miss_and_the_boost_picks_the_keyword() -> None:
    assert greedy(NEAR_MISS) == "мы в збере"
    assert ctc(NEAR_MISS) == "мы в збере"  # a plain beam search agrees with greedy
    assert ctc(NEAR_MISS, graph("сбере")) == "мы в сбере"


def test_a_keyword_the_audio_does_not_hold_is_never_inserted() -> None:
    sure = frames("д", "-", "о", "о", "-", "м", "-", " ", "и", "-")
    assert ctc(sure, graph("кот", "сбер", "ом")) == "дом и"
    # Even at the largest boost, letters the model gives one chance in a million stay out.
    assert ctc(sure, graph("кот", boost=10.0)) == "дом и"
    # and a near-miss as a part of a longer word is not rewritten: the phrase matches whole words.
    assert ctc(NEAR_MISS, graph("сбер")) == "мы в збере"


def test_a_phrase_of_several_words() -> None:
    heard = frames("н", {"ю": 0.6, "ь": 0.4}, "ю", "-", " ", {"е": 0.6, "й": 0.4}, "о", "р", "к")
    assert greedy(heard) == "ню еорк"
    assert ctc(heard, graph("нью йорк")) == "нью йорк"
    # each word alone is not the phrase: only the full phrase keeps its bonus
    assert ctc(heard, graph("нью йоркер")) == "ню еорк"


def test_keywords_sharing_a_prefix() -> None:
    long_word = frames("с", "б", "е", "р", "б", "а", "н", {"г": 0.6, "к": 0.4})
    short_word = frames("с", "б", "е", {"р": 0.5, "л": 0.5}, "-")
    keywords = graph("сбер", "сбербанк")
    assert greedy(long_word) == "сбербанг"
    assert ctc(long_word, keywords) == "сбербанк"
    assert ctc(short_word, keywords) == "сбер"
    # a word that starts like both but is neither keeps no bonus
    assert ctc(frames("с", "б", "е", "р", "б", "а", "р"), keywords) == "сбербар"


def test_boost_zero_is_a_plain_beam_search() -> None:
    rng = np.random.default_rng(7)
    for _ in range(20):
        logits = rng.normal(size=(40, len(TOKENS))) * 3
        logprobs = (logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))).astype(np.float32)
        assert ctc_prefix_beam_search(logprobs, BLANK, graph("абв", "где", boost=0.0)) == (
            ctc_prefix_beam_search(logprobs, BLANK)
        )


def test_blanks_and_repeats_collapse_as_ctc_defines() -> None:
    assert ctc(frames("а", "а", "а")) == "а"  # a letter held over frames is one letter
    assert ctc(frames("а", "-", "а")) == "аа"  # a blank between separates two
    assert ctc(frames("-", "-", "-")) == ""
    # a prefix's probability sums its alignments: "а" (аа, а-, -а) beats "" (--), which greedy picks
    split = frames({"-": 0.4, "а": 0.35, "б": 0.25}, {"-": 0.4, "а": 0.35, "б": 0.25})
    assert greedy(split) == ""
    assert ctc(split) == "а"


def test_tokens_carry_the_frame_that_wrote_them_and_its_log_probability() -> None:
    emissions = ctc_prefix_beam_search(NEAR_MISS, BLANK, graph("сбере"))
    by_text = [(TOKENS[e.token], e.frame) for e in emissions]
    assert by_text[:5] == [("м", 0), ("ы", 2), (" ", 4), ("в", 5), (" ", 6)]
    first_letter = emissions[5]
    assert (TOKENS[first_letter.token], first_letter.frame) == ("с", 7)
    # the log-probability is the model's, not the boosted score: the keyword letter stays unlikely
    assert first_letter.logprob == pytest.approx(np.log(0.45), abs=1e-3)


def heard(*spec: str | Mapping[str, float]) -> npt.NDArray[np.float32]:
    """Frames for TableTransducer: a sure letter leaves blank the runner-up, as GigaAM's joint does."""
    return frames(*({item: 0.9, "-": 0.1} if isinstance(item, str) else {**item, "-": 0.1} for item in spec))


class TableTransducer:
    """An RNN-T whose joint reads per-frame log-probabilities and, like the tiny GigaAM's, never writes
    the token it just wrote: that token's probability goes to blank, which then ends the frame."""

    def start(self) -> int:
        return BLANK

    def predict(self, state: int, token: int) -> int:
        del state
        return token

    def joint(self, state: int, frame: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        logits = frame.copy()
        if state != BLANK:
            logits[BLANK] = np.logaddexp(logits[BLANK], logits[state])
            logits[state] = -1e4
        return logits


def rnnt(logprobs: npt.NDArray[np.float32], g: ContextGraph | None = None, beam: int = 4) -> str:
    return text(transducer_beam_search(logprobs, TableTransducer(), BLANK, g, beam=beam))


def test_transducer_boost_picks_the_keyword_over_the_near_miss() -> None:
    spoken = heard("м", "ы", " ", "в", " ", {"з": 0.5, "с": 0.4}, "б", "е", "р", "е")
    assert rnnt(spoken) == "мы в збере"
    assert rnnt(spoken, graph("сбере")) == "мы в сбере"
    assert rnnt(spoken, graph("кот", boost=10.0)) == "мы в збере"


def test_transducer_keywords_sharing_a_prefix_and_several_words() -> None:
    keywords = graph("сбер", "сбербанк", "нью йорк")
    assert rnnt(heard("с", "б", "е", "р", "б", "а", "н", {"г": 0.5, "к": 0.4}), keywords) == "сбербанк"
    assert rnnt(heard("с", "б", "е", {"р": 0.45, "л": 0.45}), keywords) == "сбер"
    assert rnnt(
        heard("н", {"ю": 0.5, "ь": 0.4}, "ю", " ", {"е": 0.5, "й": 0.4}, "о", "р", "к"), keywords
    ) == ("нью йорк")


def test_transducer_boost_zero_is_a_plain_beam_search() -> None:
    rng = np.random.default_rng(3)
    for _ in range(10):
        logits = rng.normal(size=(30, len(TOKENS))) * 3
        a = transducer_beam_search(
            logits.astype(np.float32), TableTransducer(), BLANK, graph("абв", boost=0.0)
        )
        b = transducer_beam_search(logits.astype(np.float32), TableTransducer(), BLANK)
        assert a == b


def test_transducer_writes_several_tokens_a_frame_up_to_the_limit() -> None:
    class Eager(TableTransducer):
        """Writes а, б, в on the first frame, then blank."""

        def joint(self, state: int, frame: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
            order = {BLANK: ID["а"], ID["а"]: ID["б"], ID["б"]: ID["в"]}
            logits = np.full(len(TOKENS), -20.0, np.float32)
            logits[order.get(state, BLANK)] = 0.0
            return logits

    one_frame = np.zeros((2, len(TOKENS)), np.float32)
    found = transducer_beam_search(one_frame, Eager(), BLANK, max_symbols=3)
    assert [(TOKENS[e.token], e.frame) for e in found] == [("а", 0), ("б", 0), ("в", 0)]
    assert text(transducer_beam_search(one_frame, Eager(), BLANK, max_symbols=2)) == "абв"  # в on frame 1
