"""Keyword phrases a request (or the server's glossary) asks recognition to prefer: limits and normalisation.

Pure and free of inference libraries, so the HTTP layer can validate a request before it queues.
A phrase is normalised to what the decoder matches: lower case, `ё` as `е` when the model cannot
write `ё`, hyphens as spaces (no GigaAM vocabulary has a hyphen), one space between words.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from gigaam_api.engines.base import Capabilities

MAX_PHRASES: Final = 100
MAX_PHRASE_CHARS: Final = 50
# The bonus, in nats per letter of a phrase, a hypothesis earns as it spells the phrase (taken back if
# the spelling stops short). 1.0 lifts a phrase the model heard as a near-miss of one or two letters
# without pulling it into speech where the model heard something else.
DEFAULT_BOOST: Final = 1.0
MIN_BOOST: Final = 0.0
MAX_BOOST: Final = 10.0

CYRILLIC: Final = frozenset("абвгдежзийклмнопрстуфхцчшщъыьэюя")
"""The letters GigaAM's vocabularies write (no `ё`): what its engine declares in `Capabilities`."""

_SPACES = re.compile(r"[\s\-\u2010-\u2015]+")


class KeywordError(ValueError):
    """A phrase list or boost breaks a limit; the message names the problem, fit for a 400 whose
    `param` is this error's `param` (`keywords` or `keyword_boost`)."""

    def __init__(self, message: str, param: str = "keywords") -> None:
        super().__init__(message)
        self.param = param


def normalise_phrase(phrase: str, letters: frozenset[str]) -> str:
    """The form the decoder matches; raises KeywordError naming a character the model cannot write."""
    text = _SPACES.sub(" ", phrase.lower()).strip()
    if "ё" not in letters:
        text = text.replace("ё", "е")
    if not text:
        raise KeywordError("keywords: a phrase is empty")
    if len(text) > MAX_PHRASE_CHARS:
        raise KeywordError(
            f"keywords: {phrase[:MAX_PHRASE_CHARS]!r}... is longer than {MAX_PHRASE_CHARS} characters"
        )
    foreign = sorted({c for c in text if c != " " and c not in letters})
    if foreign:
        shown = "".join(foreign)
        raise KeywordError(
            f"keywords: {_cut(phrase)} has characters the model cannot write: {_cut(shown)}; "
            f"use only the letters {''.join(sorted(letters))!r} and spaces"
        )
    return text


def normalise_keywords(phrases: Iterable[str], letters: frozenset[str]) -> tuple[str, ...]:
    """Validated, normalised, first-seen order, duplicates dropped. Raises KeywordError."""
    seen: dict[str, None] = {}
    for count, phrase in enumerate(phrases, start=1):
        if count > MAX_PHRASES:
            raise KeywordError(f"keywords: at most {MAX_PHRASES} phrases")
        seen.setdefault(normalise_phrase(phrase, letters), None)
    return tuple(seen)


def check_boost(boost: float | None) -> float:
    """The boost to use: DEFAULT_BOOST for None; raises KeywordError outside [MIN_BOOST, MAX_BOOST]."""
    if boost is None:
        return DEFAULT_BOOST
    if not MIN_BOOST <= boost <= MAX_BOOST:  # also refuses NaN
        raise KeywordError(
            f"keyword_boost: must be between {MIN_BOOST:g} and {MAX_BOOST:g}, got {boost!r}", "keyword_boost"
        )
    return float(boost)


def keyword_options(
    phrases: Iterable[str], boost: float | None, caps: Capabilities
) -> tuple[tuple[str, ...], float | None]:
    """A request's `keywords` and `keyword_boost` as EngineOptions takes them, checked against what the
    engine declares. Raises KeywordError (a 400) for an engine that cannot bias or a broken limit."""
    if boost is not None:
        check_boost(boost)
    found = tuple(phrases)
    if not found:
        return (), boost
    if not caps.keywords:
        raise KeywordError(f"keywords: model {caps.model_id} cannot be steered by keywords; drop them")
    return normalise_keywords(found, caps.keyword_letters), boost


def _cut(text: str) -> str:
    """`text` repr'd for an error message, cut short: a phrase may be any length when refused."""
    shown = repr(text)
    return shown if len(shown) <= MAX_PHRASE_CHARS + 2 else shown[: MAX_PHRASE_CHARS + 1] + "…"
