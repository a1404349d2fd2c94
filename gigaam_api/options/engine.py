"""A request's options checked against what the serving engine declares it can do. Pure."""

from __future__ import annotations

from collections.abc import Sequence

from gigaam_api.engines.base import Capabilities, EngineOptions, ServerVAD
from gigaam_api.engines.glossary import merge_keywords
from gigaam_api.engines.keywords import KeywordError, keyword_options
from gigaam_api.errors import bad_request
from gigaam_api.numbers.extra import INSTALL_HINT, digits_available
from gigaam_api.options.transcription import TranscriptionOptions
from gigaam_api.transcript import NumberStyle


def engine_options(
    options: TranscriptionOptions,
    caps: Capabilities,
    glossary: Sequence[str] = (),
    *,
    default_numbers: NumberStyle = "words",
) -> EngineOptions:
    """What the engine gets of the request; a 400 for anything it cannot honour (never a silent gap).

    `glossary`: the server's normalised phrases (KEYWORDS_FILE) for this engine's letters, added after
    the request's own, so they are in the dedup key like any keyword. `default_numbers` (the NUMBERS
    setting) applies when the request does not choose.
    """
    if options.language is not None and options.language not in caps.languages:
        supported = ", ".join(sorted(caps.languages))
        raise bad_request(
            f"Unsupported language {options.language!r} for model {caps.model_id}: "
            f"it transcribes {supported}.",
            param="language",
            code="unsupported_language",
        )
    # Several `languages[]` (one is `language`): the API routes to a model that has them all (a
    # named model must); the CLI's one model is checked here.
    if options.language is None and not set(options.languages) <= caps.languages:
        raise bad_request(
            f"Unsupported languages {', '.join(options.languages)}: model {caps.model_id} does not "
            f"transcribe all of them; it transcribes {', '.join(sorted(caps.languages))}.",
            param="languages",
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
    try:
        keywords, boost = keyword_options(options.keywords, options.keyword_boost, caps)
    except KeywordError as error:
        code = "unsupported_option" if options.keywords and not caps.keywords else "invalid_keywords"
        raise bad_request(str(error), param=error.param, code=code) from None
    if caps.keywords:
        keywords = merge_keywords(keywords, glossary)
    server_vad = options.chunking_strategy if isinstance(options.chunking_strategy, ServerVAD) else None
    return EngineOptions(
        language=options.language,
        prompt=options.prompt,
        keywords=keywords,
        keyword_boost=boost if keywords else None,  # a boost without keywords changes nothing
        server_vad=server_vad,
        numbers=numbers,
    )
