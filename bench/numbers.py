"""What `numbers=digits` costs: damga's load time and its CPU time per hour of speech's text.

An hour of speech is taken as 9,000 words (150 a minute) in segments of about 20 timed words: the
recording's sentences (bench/recordings.py), lower-cased and without punctuation as CTC writes them,
with a spoken number phrase in about a third of the segments. Each segment goes through the pipeline's
own step (`numbers.digits.with_digits`: the text, then the words realigned). CPU seconds of this process.

    python -m bench.numbers [--hours 1]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from bench.recordings import SENTENCES
from gigaam_api.engines.base import ChunkResult
from gigaam_api.numbers.digits import russian_digits, with_digits
from gigaam_api.transcript import Word

WORDS_PER_HOUR = 9_000
SEGMENT_WORDS = 20
WORD_SECONDS = 0.4
NUMBERS = [
    "двадцать пять тысяч триста рублей",
    "на двадцать третьем этаже",
    "в десять часов тридцать минут",
    "три целых пять десятых процента",
    "двенадцатого марта",
    "восемь девятьсот шестнадцать сто двадцать три сорок пять шестьдесят семь",
    "сто двадцать три",
]


def segments(hours: float) -> list[ChunkResult]:
    rng = np.random.default_rng(20)
    plain = [w.strip(",.?").lower() for s in SENTENCES for w in s.split()]
    results: list[ChunkResult] = []
    total = 0
    while total < WORDS_PER_HOUR * hours:
        texts = [str(w) for w in rng.choice(plain, SEGMENT_WORDS)]
        if rng.random() < 1 / 3:
            at = int(rng.integers(0, SEGMENT_WORDS))
            texts[at:at] = str(rng.choice(NUMBERS)).split()
        words = tuple(Word(w, i * WORD_SECONDS, (i + 1) * WORD_SECONDS) for i, w in enumerate(texts))
        results.append(ChunkResult(" ".join(texts), words))
        total += len(texts)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--hours", type=float, default=1.0, help="hours of speech's text (default 1)")
    hours = parser.parse_args().hours
    work = segments(hours)
    started = time.process_time()
    rewrite = russian_digits()
    load = time.process_time() - started
    started = time.process_time()
    written = [with_digits(r, rewrite) for r in work]
    spent = time.process_time() - started
    changed = sum(w.text != r.text for w, r in zip(written, work, strict=True))
    words = sum(len(r.text.split()) for r in work)
    print(f"damga loaded in {load:.2f} s of CPU")
    print(
        f"{words} words in {len(work)} segments ({changed} rewritten): {spent:.2f} s of CPU, "
        f"{spent / hours:.2f} s per hour of speech"
    )


if __name__ == "__main__":
    main()
