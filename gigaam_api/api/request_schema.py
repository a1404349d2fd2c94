"""The OpenAPI description of a transcription request's form fields (the routes read the raw form).

One table for POST /v1/audio/transcriptions and POST /v1/jobs, so /docs and /openapi.json describe what
`options.form` accepts. Pure data.
"""

from __future__ import annotations

from gigaam_api.engines.keywords import DEFAULT_BOOST, MAX_BOOST, MAX_PHRASE_CHARS, MAX_PHRASES, MIN_BOOST
from gigaam_api.formats.render import RESPONSE_FORMATS
from gigaam_api.options.form import MAX_PREFIX_PADDING_MS, MAX_SILENCE_DURATION_MS
from gigaam_api.options.transcription import GRANULARITIES, INCLUDES

_STRINGS = {"type": "array", "items": {"type": "string"}}


def _number(low: float, high: float) -> dict[str, object]:
    return {"type": "number", "minimum": low, "maximum": high}


_SERVER_VAD = {
    "type": "object",
    "required": ["type"],
    "properties": {
        "type": {"type": "string", "enum": ["server_vad"]},
        "threshold": {
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": 1,
            "description": "speech probability at which speech starts (default: VAD_THRESHOLD)",
        },
        "silence_duration_ms": {
            "type": "integer",
            "minimum": 0,
            "maximum": MAX_SILENCE_DURATION_MS,
            "description": "every pause this long ends a segment (default: VAD_MIN_SILENCE_MS)",
        },
        "prefix_padding_ms": {
            "type": "integer",
            "minimum": 0,
            "maximum": MAX_PREFIX_PADDING_MS,
            "description": "audio kept around speech (default: VAD_SPEECH_PAD_MS)",
        },
    },
}

TRANSCRIPTION_FIELDS: dict[str, object] = {
    "model": {"type": "string", "description": "a served model or an alias (GET /v1/models)"},
    "language": {"type": "string", "description": "ISO 639-1 code; routes to a model that transcribes it"},
    "languages[]": {
        **_STRINGS,
        "description": "expected languages: one is used as `language`; several pick a model that "
        "transcribes all of them (docs/request-options.md)",
    },
    "prompt": {"type": "string"},
    "response_format": {"type": "string", "enum": list(RESPONSE_FORMATS)},
    "temperature": {"type": "number", "minimum": 0, "maximum": 1},
    "timestamp_granularities[]": {"type": "array", "items": {"type": "string", "enum": list(GRANULARITIES)}},
    "include[]": {
        "type": "array",
        "items": {"type": "string", "enum": list(INCLUDES)},
        "description": "`logprobs`: token log-probabilities in json and on the stream's delta and done "
        "events; `progress`: this server's progress events",
    },
    "stream": {"type": "boolean"},
    "chunking_strategy": {
        "description": '"auto" (the server\'s chunking) or a server_vad object: cut at every pause of '
        "silence_duration_ms. Also sent as chunking_strategy[type], chunking_strategy[...] fields",
        "oneOf": [{"type": "string", "enum": ["auto"]}, _SERVER_VAD],
    },
    "keywords[]": {
        "type": "array",
        "maxItems": MAX_PHRASES,
        "items": {"type": "string", "maxLength": MAX_PHRASE_CHARS},
        "description": "words and phrases to prefer in recognition (also `hotwords[]`); letters the "
        "model writes and spaces (docs/keywords.md)",
    },
    "keyword_boost": {
        "type": "number",
        "minimum": MIN_BOOST,
        "maximum": MAX_BOOST,
        "default": DEFAULT_BOOST,
        "description": "the keywords' bonus in nats per letter",
    },
    "translate": {
        "type": "string",
        "description": "ISO 639-1 code: translate the segment texts into this language after "
        "transcribing, through TRANSLATION_BASE_URL's LLM (docs/translations.md)",
    },
}


def form_schema(properties: dict[str, object]) -> dict[str, object]:
    """`openapi_extra` for a route that reads a multipart form with these properties."""
    return {
        "requestBody": {
            "required": True,
            "content": {"multipart/form-data": {"schema": {"type": "object", "properties": properties}}},
        }
    }


TRANSCRIPTION_SCHEMA = form_schema(
    {"file": {"type": "string", "format": "binary", "description": "the recording"}, **TRANSCRIPTION_FIELDS}
)

TRANSLATION_SCHEMA = form_schema(
    {
        "file": {"type": "string", "format": "binary", "description": "the recording"},
        "model": TRANSCRIPTION_FIELDS["model"],
        "prompt": {"type": "string", "description": "names and terms, for the recognizer and the LLM"},
        "response_format": TRANSCRIPTION_FIELDS["response_format"],
        "temperature": {**_number(0, 1), "description": "the LLM's sampling temperature"},
        "target_language": {
            "type": "string",
            "default": "en",
            "description": "this server's extension: ISO 639-1 code of the language to translate into",
        },
        "language": TRANSCRIPTION_FIELDS["language"],
        "stream": {"type": "boolean"},
    }
)
