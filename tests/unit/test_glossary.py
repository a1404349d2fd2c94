"""The server-wide glossary: parsed like request keywords, re-read when the file changes, never fatal."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from gigaam_api.engines.glossary import Glossary, merge_keywords
from gigaam_api.engines.keywords import CYRILLIC


def write(path: Path, text: str, mtime_ns: int) -> None:
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(mtime_ns, mtime_ns))  # explicit times: no reliance on the clock's resolution


def test_phrases_are_normalised_and_comments_and_blank_lines_ignored(tmp_path: Path) -> None:
    path = tmp_path / "glossary.txt"
    write(path, "# company names\nСбербанк\n\n  Нью-Йорк  # a city\nсбербанк\n", 1_000_000_000)
    assert Glossary(path, CYRILLIC).phrases() == ("сбербанк", "нью йорк")


def test_a_changed_file_is_read_again_and_an_unchanged_one_is_not(tmp_path: Path) -> None:
    path = tmp_path / "glossary.txt"
    write(path, "кот\n", 1_000_000_000)
    glossary = Glossary(path, CYRILLIC)
    assert glossary.phrases() == ("кот",)
    # Same size and time: the content is not looked at (a cheap stat per request).
    write(path, "пёс\n", 1_000_000_000)
    assert glossary.phrases() == ("кот",)
    write(path, "пёс\n", 2_000_000_000)
    assert glossary.phrases() == ("пес",)
    write(path, "пёс\nкот\n", 2_000_000_000)  # a new size alone is a change too
    assert glossary.phrases() == ("пес", "кот")


def test_bad_lines_are_skipped_with_a_warning_naming_them(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "glossary.txt"
    write(path, "кот\nSberbank\nпёс\n", 1_000_000_000)
    with caplog.at_level(logging.WARNING, "gigaam_api.engines.glossary"):
        assert Glossary(path, CYRILLIC).phrases() == ("кот", "пес")
    assert "line 2 skipped" in caplog.text and "Sberbank" in caplog.text


def test_an_unreadable_file_keeps_the_last_phrases_and_warns_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "glossary.txt"
    write(path, "кот\n", 1_000_000_000)
    glossary = Glossary(path, CYRILLIC)
    assert glossary.phrases() == ("кот",)
    path.unlink()
    with caplog.at_level(logging.WARNING, "gigaam_api.engines.glossary"):
        assert glossary.phrases() == ("кот",)
        assert glossary.phrases() == ("кот",)
    assert len([r for r in caplog.records if "unreadable" in r.getMessage()]) == 1
    write(path, "пёс\n", 3_000_000_000)
    assert glossary.phrases() == ("пес",)


def test_no_file_no_phrases() -> None:
    assert Glossary(None, CYRILLIC).phrases() == ()


def test_merge_puts_the_request_first_and_drops_repeats() -> None:
    assert merge_keywords(("пес", "кот"), ("кот", "сбер")) == ("пес", "кот", "сбер")
