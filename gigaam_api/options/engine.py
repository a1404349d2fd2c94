"""A request's options checked against what the serving engine declares it can do. Pure."""

from __future__ import annotations

from gigaam_api.engines.base import Capabilities, EngineOptions, NumberStyle
from gigaam_api.errors import bad_request
from gigaam_api.numbers.extra import INSTALL_HINT, digits_available
from gigaam_api.options.transcription import TranscriptionOptions


def engine_options(
    options: TranscriptionOptions, caps: Capabilities, *, default_numbers: NumberStyle = "words"
) -> EngineOptions:
    """What the engine gets of the request; a 400 for anything it cannot honour (never a silent gap).

    `default_numbers` (the NUMBERS setting) applies when the request does not choose."""
    if options.language is not None and options.language not in caps.languages:
        supported = ", ".join(sorted(caps.languages))
        raise bad_request(
            f"Unsupported language {options.language!r} for model {caps.model_id}: "
            f"it transcribes {supported}.",
            param="language",
            code="unsupported_language",
        )
    # The form allows the word granularity only with verbose_json.
    if "word" in options.timestamp_granularities and not caps.word_timestamps:
        raise bad_request(
            f"Model {caps.model_id} gives no word timestamps: use timestamp_granularities=segment.",
            param="timestamp_granularities",
            code="unsupported_option",
        )
    if options.include_logprobs and not caps.token_logprobs:
        raise bad_request(
            f"Model {caps.model_id} gives no token log-probabilities: drop include=logprobs.",
            param="include",
            code="unsupported_option",
        )
    numbers = options.numbers or default_numbers
    if numbers == "digits" and not digits_available():
        raise bad_request(
            f"numbers=digits is not available on this server: {INSTALL_HINT}.",
            param="numbers",
            code="unsupported_option",
        )
    return EngineOptions(language=options.language, prompt=options.prompt, numbers=numbers)
