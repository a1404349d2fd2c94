"""`translate` / `target_language` in the transcription form (options/form.py)."""

from __future__ import annotations

import pytest

from gigaam_api.errors import APIError
from gigaam_api.options.form import parse_transcription_form, translated_to
from gigaam_api.options.transcription import TranscriptionOptions


@pytest.mark.parametrize(
    ("pairs", "target"),
    [
        ([], None),
        ([("translate", "en")], "en"),
        ([("translate", "de-DE")], "de"),
        ([("target_language", "French")], "fr"),
        ([("translate", "en"), ("target_language", "en")], "en"),
        ([("translate", "none")], None),
        ([("translate", "false")], None),
    ],
)
def test_the_target_language(pairs: list[tuple[str, str]], target: str | None) -> None:
    assert parse_transcription_form(pairs).translate == target


@pytest.mark.parametrize(
    ("pairs", "param", "message"),
    [
        ([("translate", "klingon")], "translate", "ISO 639-1"),
        ([("target_language", "xx")], "target_language", "ISO 639-1"),
        ([("translate", "en"), ("target_language", "de")], "translate", "different languages"),
        (
            [("translate", "en"), ("response_format", "verbose_json"), ("timestamp_granularities[]", "word")],
            "timestamp_granularities",
            "original words",
        ),
        ([("translate", "en"), ("include[]", "logprobs")], "include", "original tokens"),
    ],
)
def test_what_cannot_be_translated_is_a_400(pairs: list[tuple[str, str]], param: str, message: str) -> None:
    with pytest.raises(APIError) as caught:
        parse_transcription_form(pairs)
    assert caught.value.status == 400
    assert caught.value.param == param
    assert message in caught.value.message


def test_the_translations_route_default_is_checked_the_same_way() -> None:
    assert translated_to(TranscriptionOptions(), "en").translate == "en"
    with pytest.raises(APIError, match="original words"):
        translated_to(TranscriptionOptions(timestamp_granularities=frozenset({"word"})), "en")
