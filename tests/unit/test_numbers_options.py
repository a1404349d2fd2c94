"""`numbers`: parsed once from the form, defaulted from NUMBERS, refused clearly without the extra, part of
the dedup key and of a stored job's options."""

from __future__ import annotations

import sys

import pytest

from gigaam_api.config import ConfigError, load_settings
from gigaam_api.dedup.key import request_key
from gigaam_api.engines.base import EngineOptions
from gigaam_api.errors import APIError
from gigaam_api.jobs.model import Job, dump_options, load_options, new_job_id
from gigaam_api.options.engine import engine_options
from gigaam_api.options.form import parse_transcription_form
from gigaam_api.options.transcription import TranscriptionOptions
from tests.fixtures.engines import capabilities

CAPS = capabilities()


@pytest.fixture
def without_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if the `numbers` extra were not installed: `import damga` fails, find_spec finds nothing."""
    monkeypatch.setitem(sys.modules, "damga", None)


@pytest.mark.parametrize(
    ("value", "style"), [("digits", "digits"), (" Digits ", "digits"), ("words", "words")]
)
def test_the_field_is_parsed(value: str, style: str) -> None:
    assert parse_transcription_form([("numbers", value)]).numbers == style


def test_absent_or_blank_means_the_server_default() -> None:
    assert parse_transcription_form([]).numbers is None
    assert parse_transcription_form([("numbers", " ")]).numbers is None


def test_a_bad_value_is_a_400_naming_the_field() -> None:
    with pytest.raises(APIError) as info:
        parse_transcription_form([("numbers", "roman")])

    assert (info.value.status, info.value.param) == (400, "numbers")
    assert "'roman'" in info.value.message and "digits" in info.value.message


def test_the_request_overrides_the_server_default() -> None:
    asked = TranscriptionOptions(numbers="words")

    assert engine_options(asked, CAPS, default_numbers="digits").numbers == "words"
    assert engine_options(TranscriptionOptions(), CAPS, default_numbers="digits").numbers == "digits"
    assert engine_options(TranscriptionOptions(), CAPS).numbers == "words"


@pytest.mark.usefixtures("without_extra")
def test_digits_without_the_extra_is_a_400_saying_how_to_install_it() -> None:
    with pytest.raises(APIError) as info:
        engine_options(TranscriptionOptions(numbers="digits"), CAPS)

    assert (info.value.status, info.value.param, info.value.code) == (400, "numbers", "unsupported_option")
    assert "--extra numbers" in info.value.message
    # Words need nothing.
    assert engine_options(TranscriptionOptions(numbers="words"), CAPS).numbers == "words"


@pytest.mark.usefixtures("without_extra")
def test_a_digits_default_without_the_extra_fails_at_start() -> None:
    with pytest.raises(ConfigError, match="NUMBERS"):
        load_settings(_env_file=None, NUMBERS="digits")


def test_the_default_setting_is_words_and_takes_digits() -> None:
    assert load_settings(_env_file=None).NUMBERS == "words"
    assert load_settings(_env_file=None, NUMBERS="digits").NUMBERS == "digits"
    with pytest.raises(ConfigError, match="NUMBERS"):
        load_settings(_env_file=None, NUMBERS="roman")


def test_digits_and_words_are_different_transcripts_to_share_and_cache() -> None:
    settings = load_settings(_env_file=None)
    words = request_key("a" * 64, EngineOptions(), CAPS, settings)

    assert request_key("a" * 64, EngineOptions(numbers="digits"), CAPS, settings) != words


def test_a_job_keeps_the_choice() -> None:
    options = TranscriptionOptions(numbers="digits")
    stored = dump_options(Job(id=new_job_id(), owner="", created_at=0.0, audio_bytes=1, options=options))

    assert stored is not None
    assert load_options(stored) == options
