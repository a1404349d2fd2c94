from __future__ import annotations

import email.policy
from email.parser import BytesParser

import httpx2
import openai
import pytest

from gigaam_api.engines.base import ServerVAD
from gigaam_api.errors import APIError
from gigaam_api.options.form import parse_transcription_form
from gigaam_api.options.transcription import TranscriptionOptions


def parse(*pairs: tuple[str, str]) -> TranscriptionOptions:
    return parse_transcription_form(pairs)


def rejected(*pairs: tuple[str, str]) -> APIError:
    with pytest.raises(APIError) as info:
        parse_transcription_form(pairs)
    assert info.value.status == 400
    return info.value


def test_defaults() -> None:
    assert parse() == TranscriptionOptions(
        model=None,
        language=None,
        prompt=None,
        response_format="json",
        temperature=0.0,
        timestamp_granularities=frozenset({"segment"}),
        stream=False,
        include_logprobs=False,
        chunking_strategy=None,
    )


def test_what_the_official_client_sends() -> None:
    options = parse(
        ("model", " whisper-1 "),
        ("language", "ru"),
        ("prompt", "Привет"),
        ("response_format", "verbose_json"),
        ("temperature", "0.0"),
        ("timestamp_granularities[]", "word"),
        ("timestamp_granularities[]", "segment"),
        ("stream", "true"),
        ("include[]", "logprobs"),
    )
    assert options.model == "whisper-1"
    assert options.language == "ru"
    assert options.prompt == "Привет"
    assert options.response_format == "verbose_json"
    assert options.timestamp_granularities == {"word", "segment"}
    assert options.stream is True
    assert options.include_logprobs is True


@pytest.mark.parametrize(
    "pairs",
    [
        [("timestamp_granularities", "word")],
        [("timestamp_granularities", "word"), ("timestamp_granularities", "segment")],
        [("timestamp_granularities", '["word", "segment"]')],
        [("timestamp_granularities", "word,segment")],
        [("timestamp_granularities[0]", "word"), ("timestamp_granularities[1]", "segment")],
    ],
)
def test_granularities_in_every_encoding(pairs: list[tuple[str, str]]) -> None:
    words = parse(("response_format", "verbose_json"), *pairs).timestamp_granularities
    assert "word" in words
    assert words <= {"word", "segment"}


def test_only_word_granularity_drops_segments() -> None:
    options = parse(("response_format", "verbose_json"), ("timestamp_granularities[]", "word"))
    assert options.timestamp_granularities == {"word"}


@pytest.mark.parametrize("value", ["", "[]"])
def test_empty_granularities_are_absent(value: str) -> None:
    assert parse(("timestamp_granularities", value)).timestamp_granularities == {"segment"}


def test_granularities_need_verbose_json() -> None:
    error = rejected(("response_format", "json"), ("timestamp_granularities[]", "segment"))
    assert error.param == "timestamp_granularities"
    assert "verbose_json" in error.message
    assert rejected(("timestamp_granularities[]", "word")).param == "timestamp_granularities"


def test_unknown_granularity() -> None:
    error = rejected(("response_format", "verbose_json"), ("timestamp_granularities[]", "sentence"))
    assert error.param == "timestamp_granularities"
    assert "word" in error.message
    assert "segment" in error.message


@pytest.mark.parametrize("value", ["true", "True", "1", " TRUE "])
def test_stream_true(value: str) -> None:
    assert parse(("stream", value)).stream is True


@pytest.mark.parametrize("value", ["false", "False", "0", ""])
def test_stream_false(value: str) -> None:
    assert parse(("stream", value)).stream is False


def test_bad_boolean() -> None:
    error = rejected(("stream", "maybe"))
    assert error.param == "stream"
    assert "true or false" in error.message


@pytest.mark.parametrize("value", ["ru", "RU", " Ru ", "rus", "russian", "Russian", "ru-RU", "ru_ru"])
def test_russian_in_any_spelling(value: str) -> None:
    assert parse(("language", value)).language == "ru"


@pytest.mark.parametrize(("value", "code"), [("en", "en"), ("English", "en"), ("uk-UA", "uk"), ("zh", "zh")])
def test_other_languages_become_codes(value: str, code: str) -> None:
    # Whether the served model transcribes them is the engine's business (tests/unit/test_engine_options.py).
    assert parse(("language", value)).language == code


@pytest.mark.parametrize("value", ["auto", "klingon", "xx", "12"])
def test_unknown_languages_rejected(value: str) -> None:
    error = rejected(("language", value))
    assert error.param == "language"
    assert "ISO 639-1" in error.message


def test_blank_optional_fields_are_absent() -> None:
    options = parse(
        ("model", ""), ("language", " "), ("prompt", ""), ("response_format", ""), ("temperature", "")
    )
    assert options == TranscriptionOptions()


@pytest.mark.parametrize("value", ["json", "text", "srt", "verbose_json", "vtt", " SRT "])
def test_supported_formats(value: str) -> None:
    assert parse(("response_format", value)).response_format == value.strip().lower()


@pytest.mark.parametrize(
    "pairs",
    [
        (("response_format", "diarized_json"),),
        (("model", "gpt-4o-transcribe-diarize"),),
        (("diarize", "true"), ("response_format", "srt")),
    ],
)
def test_diarization_is_turned_on_by_the_format_the_model_alias_or_diarize(
    pairs: tuple[tuple[str, str], ...],
) -> None:
    assert parse(*pairs).diarize
    assert not parse(("response_format", "verbose_json")).diarize


def test_speaker_hints_and_known_speaker_names() -> None:
    options = parse(
        ("diarize", "on"),
        ("min_speakers", "2"),
        ("max_speakers", "3"),
        ("known_speaker_names[]", "Olga, the host"),  # a comma is part of a name, not a list
        ("known_speaker_names[]", " Ivan "),
    )
    assert (options.min_speakers, options.max_speakers, options.speakers) == (2, 3, None)
    assert options.known_speaker_names == ("Olga, the host", "Ivan")


@pytest.mark.parametrize(
    ("pairs", "param"),
    [
        ((("speakers", "2"),), "speakers"),
        ((("known_speaker_names[]", "Olga"),), "known_speaker_names"),
        ((("diarize", "true"), ("speakers", "2.5")), "speakers"),
        ((("diarize", "true"), ("max_speakers", "33")), "max_speakers"),
        ((("diarize", "maybe"),), "diarize"),
        ((("model", "gpt-4o-transcribe-diarize"), ("diarize", "false")), "diarize"),
        # Names go into SRT/VTT cues: a line break would start a forged cue.
        (
            (("diarize", "true"), ("known_speaker_names[]", "Olga\n\n99\n00:00:00,000 --> x")),
            "known_speaker_names",
        ),
        ((("diarize", "true"), ("known_speaker_names[]", "Olga\u2028B")), "known_speaker_names"),
    ],
)
def test_bad_diarization_fields_name_their_param(pairs: tuple[tuple[str, str], ...], param: str) -> None:
    assert rejected(*pairs).param == param


def test_unknown_format_lists_supported() -> None:
    error = rejected(("response_format", "xml"))
    assert error.param == "response_format"
    assert "json, text, srt, verbose_json, vtt, diarized_json" in error.message


@pytest.mark.parametrize(("value", "expected"), [("0", 0.0), ("0.2", 0.2), ("1", 1.0), ("1.0", 1.0)])
def test_temperature(value: str, expected: float) -> None:
    assert parse(("temperature", value)).temperature == expected


@pytest.mark.parametrize("value", ["-0.1", "1.5", "hot", "nan", "inf"])
def test_temperature_out_of_range(value: str) -> None:
    error = rejected(("temperature", value))
    assert error.param == "temperature"
    assert "0 to 1" in error.message


def test_repeated_scalar_last_wins() -> None:
    assert parse(("response_format", "json"), ("response_format", "srt")).response_format == "srt"


def test_unknown_fields_ignored() -> None:
    options = parse(("user", "x"), ("extra[a]", "b"))
    assert options == TranscriptionOptions()


def test_one_language_in_languages_is_the_language() -> None:
    options = parse(("languages[]", "ru-RU"))
    assert (options.language, options.languages) == ("ru", ("ru",))


def test_several_languages_leave_language_unset() -> None:
    options = parse(("languages[]", "ru"), ("languages[]", "English"), ("languages[]", "ru"))
    assert (options.language, options.languages) == (None, ("ru", "en"))
    assert parse(("languages[]", "ru"), ("language", "en")).language == "en"  # `language` wins


def test_bad_languages_item_names_the_field() -> None:
    error = rejected(("languages[]", "ru"), ("languages[]", "klingon"))
    assert error.param == "languages" and "'klingon'" in error.message


def test_keywords_and_hotwords_are_one_list() -> None:
    options = parse(("keywords[]", "Сбербанк"), ("hotwords", "ГигаАМ"), ("keyword_boost", "2.5"))
    assert options.keywords == ("Сбербанк", "ГигаАМ") and options.keyword_boost == 2.5


@pytest.mark.parametrize("value", ["lots", "nan", "inf"])
def test_keyword_boost_not_a_number(value: str) -> None:
    assert rejected(("keyword_boost", value)).param == "keyword_boost"


def test_include_plain_and_json() -> None:
    assert parse(("include", "logprobs")).include_logprobs is True
    assert parse(("include", '["logprobs"]')).include_logprobs is True
    assert rejected(("include[]", "everything")).param == "include"


def test_chunking_strategy_auto() -> None:
    assert parse(("chunking_strategy", "auto")).chunking_strategy == "auto"
    assert parse(("chunking_strategy", '"auto"')).chunking_strategy == "auto"
    assert parse(("chunking_strategy", "null")).chunking_strategy is None


def test_chunking_strategy_bracket_form() -> None:
    options = parse(
        ("chunking_strategy[type]", "server_vad"),
        ("chunking_strategy[prefix_padding_ms]", "300"),
        ("chunking_strategy[silence_duration_ms]", "500"),
        ("chunking_strategy[threshold]", "0.4"),
    )
    assert options.chunking_strategy == ServerVAD(
        prefix_padding_ms=300, silence_duration_ms=500, threshold=0.4
    )


def test_chunking_strategy_json_string() -> None:
    value = '{"type": "server_vad", "threshold": 0.6, "silence_duration_ms": 200}'
    options = parse(("chunking_strategy", value))
    assert options.chunking_strategy == ServerVAD(silence_duration_ms=200, threshold=0.6)


@pytest.mark.parametrize(
    "pairs",
    [
        [("chunking_strategy", "manual")],
        [("chunking_strategy", "{not json")],
        [("chunking_strategy", '{"type": "semantic"}')],
        [("chunking_strategy[type]", "server_vad"), ("chunking_strategy[threshold]", "1.5")],
        [("chunking_strategy[type]", "server_vad"), ("chunking_strategy[prefix_padding_ms]", "12.5")],
        [("chunking_strategy", '{"type": "server_vad", "silence_duration_ms": true}')],
        [("chunking_strategy", '{"type": "server_vad", "prefix_padding_ms": -1}')],
        [("chunking_strategy", '{"type": "server_vad", "threshold": 0}')],
        [("chunking_strategy", '{"type": "server_vad", "silence_duration_ms": 10001}')],
        [("chunking_strategy", '{"type": "server_vad", "prefix_padding_ms": 2001}')],
        # A misspelt field would otherwise be the default silently.
        [("chunking_strategy", '{"type": "server_vad", "silence_duration": 200}')],
        [("chunking_strategy[type]", "server_vad"), ("chunking_strategy[silence_ms]", "200")],
    ],
)
def test_bad_chunking_strategy(pairs: list[tuple[str, str]]) -> None:
    assert rejected(*pairs).param == "chunking_strategy"


def client_form_fields(**params: object) -> list[tuple[str, str]]:
    """The non-file form fields the official client sends for `transcriptions.create(**params)`."""
    captured: list[httpx2.Request] = []

    def answer(request: httpx2.Request) -> httpx2.Response:
        captured.append(request)
        return httpx2.Response(200, json={"text": "", "language": "russian", "duration": 0.0})

    client = openai.OpenAI(
        api_key="x",
        base_url="http://test/v1",
        http_client=httpx2.Client(transport=httpx2.MockTransport(answer)),
    )
    client.audio.transcriptions.create(file=("a.wav", b"RIFF"), model="whisper-1", **params)  # type: ignore[call-overload]
    request = captured[0]
    head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
    message = BytesParser(policy=email.policy.HTTP).parsebytes(head + request.read())
    return [
        (str(part.get_param("name", header="content-disposition")), str(part.get_content()))
        for part in message.iter_parts()
        if part.get_filename() is None
    ]


def test_round_trip_through_the_official_client() -> None:
    fields = client_form_fields(
        language="ru",
        response_format="verbose_json",
        temperature=0.0,
        timestamp_granularities=["word", "segment"],
        include=["logprobs"],
        chunking_strategy={"type": "server_vad", "threshold": 0.4, "silence_duration_ms": 400},
    )
    options = parse_transcription_form(fields)
    assert options == TranscriptionOptions(
        model="whisper-1",
        language="ru",
        response_format="verbose_json",
        timestamp_granularities=frozenset({"word", "segment"}),
        include_logprobs=True,
        chunking_strategy=ServerVAD(silence_duration_ms=400, threshold=0.4),
    )


def test_client_extra_body_false_stays_false() -> None:
    fields = client_form_fields(extra_body={"stream": False, "chunking_strategy": "auto"})
    options = parse_transcription_form(fields)
    assert options.stream is False
    assert options.chunking_strategy == "auto"
