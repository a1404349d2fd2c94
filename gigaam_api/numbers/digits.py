"""Rewrite an engine's result with Russian numbers as digits, through damga's inverse normaliser.

damga (Apache-2.0) ships its weighted finite-state grammars compiled, with a small native OpenFst
runtime: loading them takes a fraction of a second and nothing is compiled here (docs/decisions.md says
why not NeMo's grammar). Loaded once per process, on first use, off the event loop.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from functools import cache

from gigaam_api.engines.base import ChunkResult
from gigaam_api.numbers.align import realign
from gigaam_api.transcript import WORD_SEPARATOR

Rewrite = Callable[[str], str]


@cache
def russian_digits() -> Rewrite:
    """damga's Russian inverse normaliser: "двадцать пять тысяч триста рублей" → "25 300 рублей".

    One instance for the process; calls are serialised because damga does not document its native
    grammars as safe to share between threads (a call takes about a millisecond).
    """
    from damga import InverseNormalizer

    normalizer = InverseNormalizer(lang="ru")
    lock = threading.Lock()

    def rewrite(text: str) -> str:
        with lock:
            return str(normalizer.normalize(text))

    return rewrite


def with_digits(result: ChunkResult, rewrite: Rewrite) -> ChunkResult:
    """`result` with its text rewritten and, if it has words, each rewritten span one word with their times.

    The words are rewritten apart from the text: an engine's words may lack the text's punctuation.
    """
    if not result.text.strip():
        return result
    text = rewrite(result.text)
    if not result.words:
        return replace(result, text=text)
    rewritten = rewrite(WORD_SEPARATOR.join(w.word for w in result.words)).split()
    return replace(result, text=text, words=realign(result.words, rewritten))
