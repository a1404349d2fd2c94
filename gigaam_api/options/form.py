"""Normalise the form fields of POST /v1/audio/transcriptions into typed options.

Clients encode the same request many ways: the official SDK sends `name[]` lists and bracketed
dict keys (`chunking_strategy[type]`), others send plain repeated names or JSON strings. All of them
are accepted here, so everything past the edge only ever sees `TranscriptionOptions`. Pure: no I/O.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from gigaam_api.engines.base import ServerVAD
from gigaam_api.errors import bad_request
from gigaam_api.formats.languages import language_code
from gigaam_api.formats.render import RESPONSE_FORMATS, ResponseFormat
from gigaam_api.options.transcription import (
    GRANULARITIES,
    INCLUDES,
    ChunkingStrategy,
    Granularity,
    TranscriptionOptions,
)
from gigaam_api.transcript import NUMBER_STYLES, NumberStyle

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})
# `name[]` (a list item), `name[0]` (an indexed list item) or `name[key]` (a dict entry).
_BRACKETED = re.compile(r"^([^\[\]]+)\[([^\[\]]*)\]$")
# server_vad bounds: a pause longer than 10 s is not a pause; padding beyond 2 s is mostly silence.
MAX_SILENCE_DURATION_MS = 10_000
MAX_PREFIX_PADDING_MS = 2_000
MAX_JSON_DEPTH = 2  # an array of strings, an object of scalars; 2 leaves room for a mistake to be named
SHOWN_CHARS = 100
DIARIZE_MODEL = "gpt-4o-transcribe-diarize"  # OpenAI's diarizing model: an alias that turns diarization on
MAX_SPEAKERS = 32  # a count hint above this is a mistake, not a meeting
MAX_SPEAKER_NAME_CHARS = 64


@dataclass(slots=True)
class _Fields:
    """Form fields grouped by base name: every plain or list value, and bracketed dict entries."""

    values: dict[str, list[str]] = field(default_factory=dict)
    dicts: dict[str, dict[str, str]] = field(default_factory=dict)

    @classmethod
    def group(cls, pairs: Iterable[tuple[str, str]]) -> _Fields:
        grouped = cls()
        for name, value in pairs:
            match = _BRACKETED.match(name)
            if match is None:
                grouped.values.setdefault(name, []).append(value)
            elif match[2] == "" or match[2].isdigit():
                grouped.values.setdefault(match[1], []).append(value)
            else:
                grouped.dicts.setdefault(match[1], {})[match[2]] = value
        return grouped

    def last(self, name: str) -> str | None:
        """The last non-blank value of a scalar field (repeats: last wins, as in Starlette's form)."""
        present = [v for v in self.values.get(name, []) if v.strip()]
        return present[-1] if present else None

    def items(self, name: str) -> list[str]:
        """A list field's items, whether sent repeated, as a JSON array or comma-separated."""
        items: list[str] = []
        for raw in self.values.get(name, []):
            text = raw.strip()
            if text.startswith("["):
                items.extend(_json_strings(text, name))
            else:
                items.extend(part.strip() for part in text.split(","))
        return [item for item in items if item]


def parse_transcription_form(pairs: Iterable[tuple[str, str]]) -> TranscriptionOptions:
    """Turn the non-file form fields, in arrival order, into options; raise a 400 `APIError` if bad."""
    fields = _Fields.group(pairs)
    response_format = _response_format(fields.last("response_format"))
    granularities = _granularities(fields.items("timestamp_granularities"), response_format)
    includes = _includes(fields.items("include"))
    languages = _languages(fields.items("languages"))
    language = _language(fields.last("language"))
    options = TranscriptionOptions(
        model=_stripped(fields.last("model")),
        # One language in `languages[]` is that language; several route among the served models.
        language=language if language is not None or len(languages) != 1 else languages[0],
        prompt=fields.last("prompt"),
        response_format=response_format,
        temperature=_temperature(fields.last("temperature")),
        timestamp_granularities=granularities,
        stream=_boolean(fields.last("stream"), "stream"),
        include_logprobs="logprobs" in includes,
        include_progress="progress" in includes,
        chunking_strategy=_chunking_strategy(fields),
        # `keywords[]` is OpenAI's name; `hotwords` that of the closest GigaAM peer. Checked against the
        # serving engine's letters and limits later (`options.engine`), where the glossary joins them.
        keywords=(*fields.items("keywords"), *fields.items("hotwords")),
        keyword_boost=_keyword_boost(fields.last("keyword_boost")),
        languages=languages,
        numbers=_numbers(fields.last("numbers")),
    )
    return _with_translation(_with_diarization(options, fields), fields)


def _with_translation(options: TranscriptionOptions, fields: _Fields) -> TranscriptionOptions:
    """`translate` (or its synonym `target_language`, the translations route's name): the language
    the segment texts are translated into; `none` or `false` means no translation."""
    given = {
        name: _target_language(value, name)
        for name in ("translate", "target_language")
        if (value := fields.last(name)) is not None
    }
    if len(set(given.values())) > 1:
        raise bad_request("translate and target_language name different languages.", param="translate")
    target = next(iter(given.values()), None)
    return options if target is None else translated_to(options, target)


def translated_to(options: TranscriptionOptions, target: str) -> TranscriptionOptions:
    """`options` translating into `target` (a checked ISO 639-1 code); 400 for what cannot follow."""
    # What belongs to the original words cannot follow their translation.
    if "word" in options.timestamp_granularities:
        raise bad_request(
            "Word timestamps are not available with translation: they belong to the original words.",
            param="timestamp_granularities",
        )
    if options.include_logprobs:
        raise bad_request(
            "include[]=logprobs is not available with translation: they belong to the original tokens.",
            param="include",
        )
    return dataclasses.replace(options, translate=target)


def _target_language(value: str, param: str) -> str | None:
    text = value.strip()
    if text.lower() in {"none", *_FALSE}:
        return None
    code = language_code(text)
    if code is None:
        raise bad_request(
            f"Invalid {param} {_shown(text)}: expected an ISO 639-1 code such as 'en'.", param=param
        )
    return code


def _with_diarization(options: TranscriptionOptions, fields: _Fields) -> TranscriptionOptions:
    """`options` with the diarization fields: on with `diarize=true`, `diarized_json` or the diarize
    model; the count hints and known speakers' names need it on (a 400, not a hint silently ignored)."""
    asked = fields.last("diarize")
    raw_per_channel = fields.last("per_channel")  # unset: detected on stereo calls; false: never
    per_channel = None if raw_per_channel is None else _boolean(raw_per_channel, "per_channel")
    implied = (
        options.response_format == "diarized_json" or options.model == DIARIZE_MODEL or per_channel is True
    )
    if asked is not None and not _boolean(asked, "diarize") and implied:
        why = (
            "per_channel=true"
            if per_channel
            else f"model {DIARIZE_MODEL}"
            if options.model == DIARIZE_MODEL
            else "response_format diarized_json"
        )
        raise bad_request(f"diarize=false contradicts {why}.", param="diarize")
    diarize = implied or (asked is not None and _boolean(asked, "diarize"))
    counts = {
        name: _speaker_count(fields.last(name), name) for name in ("speakers", "min_speakers", "max_speakers")
    }
    names = tuple(_speaker_name(v) for v in fields.values.get("known_speaker_names", []))
    given = [name for name, value in counts.items() if value is not None]
    if names:
        given.append("known_speaker_names")
    if given and not diarize:
        raise bad_request(
            f"{given[0]} needs diarization: send diarize=true or response_format=diarized_json.",
            param=given[0],
        )
    if counts["speakers"] is not None and (counts["min_speakers"] or counts["max_speakers"]):
        raise bad_request("Give either speakers or min_speakers/max_speakers, not both.", param="speakers")
    if per_channel and given:
        raise bad_request(
            f"{given[0]} does not apply with per_channel: each channel is one speaker (A left, B right).",
            param=given[0],
        )
    low, high = counts["min_speakers"], counts["max_speakers"]
    if low is not None and high is not None and low > high:
        raise bad_request(f"min_speakers ({low}) is above max_speakers ({high}).", param="min_speakers")
    return dataclasses.replace(
        options,
        diarize=diarize,
        speakers=counts["speakers"],
        min_speakers=low,
        max_speakers=high,
        known_speaker_names=names,
        per_channel=per_channel,
    )


def _speaker_count(value: str | None, param: str) -> int | None:
    if value is None:
        return None
    number = _float(value)
    if not (number.is_integer() and 1 <= number <= MAX_SPEAKERS):
        raise bad_request(
            f"Invalid {param} {_shown(value.strip())}: expected a whole number from 1 to {MAX_SPEAKERS}.",
            param=param,
        )
    return int(number)


def _speaker_name(value: str) -> str:
    name = value.strip()
    # Printable only: a name is written into SRT/VTT cues and text lines, where a line break starts a cue.
    if not name or len(name) > MAX_SPEAKER_NAME_CHARS or not name.isprintable():
        raise bad_request(
            f"Invalid known_speaker_names item {_shown(name)}: "
            f"expected 1 to {MAX_SPEAKER_NAME_CHARS} printable characters on one line.",
            param="known_speaker_names",
        )
    return name


def _stripped(value: str | None) -> str | None:
    return value.strip() if value is not None else None


def _language(value: str | None) -> str | None:
    """An ISO 639-1 code; whether the model transcribes it is checked against the engine later."""
    if value is None:
        return None
    # Accept a region subtag (`ru-RU`, `ru_RU`: browsers and some UIs send locales) or a name.
    code = language_code(value)
    if code is None:
        raise bad_request(
            f"Invalid language {_shown(value.strip())}: expected an ISO 639-1 code such as 'ru'.",
            param="language",
        )
    return code


def _languages(items: list[str]) -> tuple[str, ...]:
    codes: dict[str, None] = {}
    for item in items:
        code = language_code(item)
        if code is None:
            raise bad_request(
                f"Invalid languages item {_shown(item)}: expected ISO 639-1 codes such as 'ru'.",
                param="languages",
            )
        codes.setdefault(code, None)
    return tuple(codes)


def _keyword_boost(value: str | None) -> float | None:
    """A number; its range is `engines.keywords.check_boost`'s (the 400 names it the same way)."""
    if value is None:
        return None
    boost = _float(value)
    if not math.isfinite(boost):
        raise bad_request(
            f"Invalid keyword_boost {_shown(value.strip())}: expected a number.", param="keyword_boost"
        )
    return boost


def _response_format(value: str | None) -> ResponseFormat:
    if value is None:
        return "json"
    name = value.strip().lower()
    supported = ", ".join(RESPONSE_FORMATS)
    for fmt in RESPONSE_FORMATS:
        if fmt == name:
            return fmt
    raise bad_request(
        f"Invalid response_format {_shown(value.strip())}. Supported formats: {supported}.",
        param="response_format",
    )


def _temperature(value: str | None) -> float:
    if value is None:
        return 0.0
    temperature = _float(value)
    if not 0.0 <= temperature <= 1.0:  # also rejects NaN
        raise bad_request(
            f"Invalid temperature {_shown(value.strip())}: expected a number from 0 to 1.",
            param="temperature",
        )
    return temperature


def _numbers(value: str | None) -> NumberStyle | None:
    if value is None:
        return None
    for style in NUMBER_STYLES:
        if style == value.strip().lower():
            return style
    raise bad_request(
        f"Invalid numbers {_shown(value.strip())}: expected 'words' (as spoken) or 'digits'.",
        param="numbers",
    )


def _granularities(items: list[str], response_format: ResponseFormat) -> frozenset[Granularity]:
    if not items:
        return frozenset({"segment"})
    allowed = ", ".join(GRANULARITIES)
    chosen: set[Granularity] = set()
    for item in items:
        chosen.add(_granularity(item, allowed))
    # OpenAI rejects granularities with any other format rather than silently ignoring them.
    if response_format != "verbose_json":
        raise bad_request(
            f"timestamp_granularities requires response_format 'verbose_json' (got {response_format!r}).",
            param="timestamp_granularities",
        )
    return frozenset(chosen)


def _granularity(item: str, allowed: str) -> Granularity:
    for granularity in GRANULARITIES:
        if granularity == item.lower():
            return granularity
    raise bad_request(
        f"Invalid timestamp_granularities value {_shown(item)}. Allowed values: {allowed}.",
        param="timestamp_granularities",
    )


def _includes(items: list[str]) -> frozenset[str]:
    for item in items:
        if item not in INCLUDES:
            allowed = ", ".join(INCLUDES)
            message = f"Invalid include value {_shown(item)}. Allowed values: {allowed}."
            raise bad_request(message, param="include")
    return frozenset(items)


def _boolean(value: str | None, param: str) -> bool:
    if value is None:
        return False
    word = value.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise bad_request(f"Invalid {param} {_shown(value.strip())}: expected true or false.", param=param)


SERVER_VAD_FIELDS = frozenset({"type", "prefix_padding_ms", "silence_duration_ms", "threshold"})


def _chunking_strategy(fields: _Fields) -> ChunkingStrategy | None:
    entries: object = fields.dicts.get("chunking_strategy")
    if entries is None:
        raw = fields.last("chunking_strategy")
        if raw is None:
            return None
        text = raw.strip()
        entries = text if text.lower() == "auto" else _json(text, "chunking_strategy")
    if entries is None:  # a JSON `null`
        return None
    if isinstance(entries, str) and entries.strip().lower() == "auto":
        return "auto"
    if isinstance(entries, dict) and entries.get("type") == "server_vad":
        unknown = sorted(str(k) for k in entries if k not in SERVER_VAD_FIELDS)
        if unknown:
            raise bad_request(
                f"Unknown chunking_strategy field {_shown(unknown[0])}: a server_vad object takes "
                "prefix_padding_ms, silence_duration_ms and threshold.",
                param="chunking_strategy",
            )
        return ServerVAD(
            prefix_padding_ms=_vad_int(
                entries.get("prefix_padding_ms"), "prefix_padding_ms", MAX_PREFIX_PADDING_MS
            ),
            silence_duration_ms=_vad_int(
                entries.get("silence_duration_ms"), "silence_duration_ms", MAX_SILENCE_DURATION_MS
            ),
            threshold=_vad_number(entries.get("threshold"), "threshold", upper=1.0, positive=True),
        )
    raise bad_request(
        "Invalid chunking_strategy: expected 'auto' or an object with type 'server_vad' "
        "(fields prefix_padding_ms, silence_duration_ms, threshold).",
        param="chunking_strategy",
    )


def _vad_int(value: object, name: str, upper: int) -> int | None:
    number = _vad_number(value, name, integer=True, upper=upper)
    return None if number is None else int(number)


def _vad_number(
    value: object, name: str, *, integer: bool = False, upper: float, positive: bool = False
) -> float | None:
    """A number in [0, upper] ((0, upper] if `positive`) from a form string or a JSON value; None/""
    mean "not given"."""
    if value is None or value == "":
        return None
    number = math.nan
    if isinstance(value, int | float) and not isinstance(value, bool):
        with contextlib.suppress(OverflowError):  # a JSON integer too large for a float: invalid
            number = float(value)
    elif isinstance(value, str):
        number = _float(value)
    valid = (0.0 < number if positive else 0.0 <= number) and number <= upper
    if not valid or (integer and not number.is_integer()):
        low = "above 0 and at most" if positive else "from 0 to"
        kind = f"an integer {low} {upper:g}" if integer else f"a number {low} {upper:g}"
        raise bad_request(
            f"Invalid chunking_strategy.{name} {_shown(value)}: expected {kind}.", param="chunking_strategy"
        )
    return number


def _float(text: str) -> float:
    """Parse a number sent as a string; NaN (which every range check rejects) if it is not one."""
    try:
        return float(text)
    except ValueError:
        return math.nan


def _shown(value: object) -> str:
    """A client's value for an error message: repr'd and cut short (fields may be 64 KiB)."""
    text = repr(value) if isinstance(value, str | int | float) else f"<{type(value).__name__}>"
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 1] + "…"


def _json(text: str, param: str) -> object:
    # Refused before the parser recurses into it (50,000 `[` would raise RecursionError).
    if _nesting(text) > MAX_JSON_DEPTH:
        raise bad_request(f"Invalid {param}: the JSON is nested too deeply.", param=param)
    try:
        return json.loads(text)
    except ValueError:
        raise bad_request(f"Invalid {param}: {_shown(text)} is not valid JSON.", param=param) from None


def _nesting(text: str) -> int:
    """The deepest bracket nesting in JSON text, ignoring brackets inside strings (one linear pass)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _json_strings(text: str, param: str) -> list[str]:
    value = _json(text, param)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise bad_request(f"Invalid {param}: expected a JSON array of strings.", param=param)
    return value
