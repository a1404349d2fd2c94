"""The server-wide glossary (KEYWORDS_FILE): phrases merged into every request's keywords.

Free of inference libraries, so the HTTP layer can merge it where it builds EngineOptions (the merged
phrases then belong to the request's dedup key). The file is re-read when its modification time or size
changes: one `stat` per request, nothing more. A line that breaks a keyword limit is skipped with a
warning naming it, and a file that cannot be read keeps the last good phrases: editing the glossary
never takes the service down.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Final

from gigaam_api.engines.keywords import KeywordError, normalise_phrase

log = logging.getLogger(__name__)

MAX_GLOSSARY_PHRASES: Final = 1000


def parse_glossary(text: str, letters: frozenset[str], source: str) -> tuple[str, ...]:
    """Normalised phrases of a glossary file's text; bad lines are logged and skipped."""
    found: dict[str, None] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        phrase = line.split("#", 1)[0].strip()
        if not phrase:
            continue
        if len(found) == MAX_GLOSSARY_PHRASES:
            log.warning("%s: more than %d phrases; line %d and later are ignored", source, len(found), number)
            break
        try:
            found.setdefault(normalise_phrase(phrase, letters), None)
        except KeywordError as error:
            log.warning("%s line %d skipped: %s", source, number, error)
    return tuple(found)


def merge_keywords(request: Iterable[str], glossary: Iterable[str]) -> tuple[str, ...]:
    """The request's phrases, then the glossary's it does not already have."""
    return tuple(dict.fromkeys((*request, *glossary)))


class Glossary:
    """KEYWORDS_FILE's phrases for an engine that writes `letters`; thread-safe."""

    def __init__(self, path: Path | None, letters: frozenset[str]) -> None:
        self._path = path
        self._letters = letters
        self._lock = threading.Lock()
        self._seen: tuple[int, int] | None = None  # (mtime_ns, size) of the file last read
        self._phrases: tuple[str, ...] = ()

    def phrases(self) -> tuple[str, ...]:
        if self._path is None:
            return ()
        with self._lock:
            try:
                stat = self._path.stat()
                if (stat.st_mtime_ns, stat.st_size) != self._seen:
                    text = self._path.read_text(encoding="utf-8")
                    self._phrases = parse_glossary(text, self._letters, str(self._path))
                    self._seen = (stat.st_mtime_ns, stat.st_size)
                    log.info("glossary %s: %d phrases", self._path, len(self._phrases))
            except (OSError, UnicodeDecodeError) as error:
                if self._seen != (-1, -1):  # once per failure, not once per request
                    log.warning(
                        "glossary %s unreadable (%s); keeping %d phrases",
                        self._path,
                        error,
                        len(self._phrases),
                    )
                    self._seen = (-1, -1)
            return self._phrases


class Glossaries:
    """KEYWORDS_FILE for every served model: one `Glossary` per alphabet, made on first use."""

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._by_letters: dict[frozenset[str], Glossary] = {}

    def phrases(self, letters: frozenset[str]) -> tuple[str, ...]:
        if self._path is None:
            return ()
        with self._lock:
            glossary = self._by_letters.setdefault(letters, Glossary(self._path, letters))
        return glossary.phrases()
