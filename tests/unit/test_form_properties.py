"""Property tests of form parsing: any fields at all give options or a 400 `APIError`, never another error."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gigaam_api.errors import APIError
from gigaam_api.options.form import SHOWN_CHARS, parse_transcription_form
from gigaam_api.options.transcription import TranscriptionOptions

NAMES = [
    "model",
    "language",
    "prompt",
    "response_format",
    "temperature",
    "timestamp_granularities",
    "timestamp_granularities[]",
    "timestamp_granularities[0]",
    "stream",
    "include",
    "include[]",
    "chunking_strategy",
    "chunking_strategy[type]",
    "chunking_strategy[threshold]",
    "chunking_strategy[prefix_padding_ms]",
    "chunking_strategy[silence_duration_ms]",
]
WORDS = [
    "json",
    "verbose_json",
    "text",
    "srt",
    "vtt",
    "word",
    "segment",
    "logprobs",
    "auto",
    "server_vad",
    "ru",
    "true",
    "false",
    "0",
    "1",
    "0.5",
    "-1",
    "nan",
    "inf",
    "1e400",
    "null",
    "whisper-1",
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.sampled_from(WORDS) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["type", "threshold", "x"]), inner, max_size=3)
    ),
    max_leaves=8,
)
values = st.one_of(
    st.text(),
    st.sampled_from(WORDS),
    json_values.map(json.dumps),
    st.builds(lambda n, s: "[" * n + s + "]" * n, st.integers(0, 3000), st.sampled_from(['"word"', "", "1"])),
    st.builds(lambda n: '{"a":' * n + "1" + "}" * n, st.integers(0, 3000)),
)
names = st.one_of(
    st.sampled_from(NAMES),
    st.text(max_size=12),
    st.builds(lambda a, b: f"{a}[{b}]", st.sampled_from(NAMES), st.text(max_size=6)),
)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.tuples(names, values), max_size=8))
def test_any_fields_give_options_or_a_400(pairs: list[tuple[str, str]]) -> None:
    outcome: TranscriptionOptions | APIError
    try:
        outcome = parse_transcription_form(pairs)
    except APIError as exc:
        outcome = exc
    if isinstance(outcome, APIError):
        assert outcome.status == 400
        assert outcome.message and len(outcome.message) < 400 + 2 * SHOWN_CHARS  # values are cut short
    else:
        assert isinstance(outcome, TranscriptionOptions)


@given(st.integers(min_value=10**309, max_value=10**400))
def test_integers_too_large_for_a_float_are_a_400(number: int) -> None:
    pairs = [("chunking_strategy", f'{{"type": "server_vad", "prefix_padding_ms": {number}}}')]
    with pytest.raises(APIError) as info:
        parse_transcription_form(pairs)
    assert info.value.status == 400
