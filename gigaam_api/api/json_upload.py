"""Stream an application/json transcription body (Open WebUI's "json" request format) into the spool.

The body is `{"model", "language", ..., "input_audio": {"data": <base64>, "format": <ext>}}`. The audio
is the only large part, so it is never held in memory: a small scanner follows the JSON structure and,
inside the string value of `input_audio.data`, feeds the text to a streaming base64 decoder that writes
the spool file (MAX_UPLOAD_MB is checked on the decoded bytes as they arrive). Everything else, with
that string left empty, is the "skeleton": bounded by MAX_FORM_FIELDS_BYTES, and parsed and validated
strictly (`strict_json`) once the body is complete. Memory is one received chunk plus the skeleton.
The other fields become the same form pairs a multipart body gives, so both share one validation.

`known_speaker_references` (an array of data URLs of 2–10 s clips, as OpenAI takes them) is streamed the
same way: each string into a file of its own (`api/references.py`), never into the skeleton.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from gigaam_api.api.base64_file import Base64File
from gigaam_api.api.references import PARAM as REFERENCES_PARAM
from gigaam_api.api.references import DataUrlFile, invalid_reference, too_many_references
from gigaam_api.api.request_body import BodyReader
from gigaam_api.api.strict_json import loads_strict
from gigaam_api.api.upload import FormLimits, Upload, fields_too_large
from gigaam_api.errors import APIError, bad_request
from gigaam_api.speakers.options import MAX_KNOWN_SPEAKERS

AUDIO_PARAM = "input_audio"
MAX_DEPTH = 4  # {"input_audio": {...}}, {"include": [...]}, {"chunking_strategy": {...}}: 2 is enough
_QUOTE, _BACKSLASH = ord('"'), ord("\\")
_OPEN, _CLOSE = b"{[", b"}]"
_STRING_END = re.compile(rb'["\\]')
# JSON escapes a base64 text may carry: `\/` (some encoders escape every slash) and line breaks (MIME).
_DATA_ESCAPES = {ord("/"): b"/", ord("n"): b"", ord("r"): b""}
_STRING_FIELDS = ("model", "language", "prompt", "response_format")


def json_body_bytes(limits: FormLimits) -> int:
    """The largest JSON body these limits can let through: the audio grows by 4/3 in base64, plus
    1/16 for escapes (`\\/`, line breaks) some encoders put in it."""
    encoded = -(-limits.file_bytes // 3) * 4
    return encoded + encoded // 16 + limits.fields_bytes


def audio_too_large(limit_bytes: int) -> APIError:
    mb = limit_bytes / (1024 * 1024)
    return APIError(
        413,
        f"The decoded input_audio.data is larger than the limit of {mb:g} MB (MAX_UPLOAD_MB).",
        param=AUDIO_PARAM,
        code="file_too_large",
    )


def bad_base64() -> APIError:
    return bad_request("input_audio.data is not valid base64.", param=AUDIO_PARAM, code="invalid_base64")


@dataclass
class _Container:
    is_object: bool
    expect_key: bool
    key: bytes | None = None


_Sink = Base64File | DataUrlFile


@dataclass
class _Scanner:
    """Splits the body into the skeleton and the text of `input_audio.data` (sent to `audio`) and of each
    `known_speaker_references` item (sent to a `new_reference()` file, if given)."""

    audio: Base64File
    fields_limit: int
    new_reference: Callable[[], Path] | None = None
    charge: Callable[[int], None] = lambda _: None
    skeleton: bytearray = field(default_factory=bytearray)
    audio_seen: bool = False
    references: list[Path] = field(default_factory=list)
    _stack: list[_Container] = field(default_factory=list)
    _in_string: bool = False
    _in_key: bool = False
    _escaped: bool = False
    _key: bytearray = field(default_factory=bytearray)
    _sink: _Sink | None = None  # the audio or a reference clip, while inside its string
    _reference: DataUrlFile | None = None

    def feed(self, chunk: bytes) -> None:
        i = 0
        while i < len(chunk):
            if self._sink is not None:
                i = self._feed_audio(chunk, i)
            else:
                self._feed_byte(chunk[i])
                i += 1

    def _feed_byte(self, byte: int) -> None:
        self.skeleton.append(byte)
        if len(self.skeleton) > self.fields_limit:
            raise fields_too_large(self.fields_limit)
        if self._in_string:
            self._string_byte(byte)
        else:
            self._structure_byte(byte)

    def _string_byte(self, byte: int) -> None:
        if self._escaped:
            self._escaped = False
        elif byte == _BACKSLASH:
            self._escaped = True
        elif byte == _QUOTE:
            self._in_string = False
            if self._in_key:
                self._stack[-1].key = bytes(self._key)
            return
        if self._in_key:
            self._key.append(byte)

    def _structure_byte(self, byte: int) -> None:
        top = self._stack[-1] if self._stack else None
        if byte == _QUOTE:
            self._in_key = top is not None and top.is_object and top.expect_key
            self._key.clear()
            self._sink = None if self._in_key else self._streamed_value()
            self._in_string = self._sink is None
        elif byte in _OPEN:
            if len(self._stack) >= MAX_DEPTH:
                raise bad_request("The JSON body is nested too deeply.")
            is_object = byte == _OPEN[0]
            self._stack.append(_Container(is_object=is_object, expect_key=is_object))
        elif byte in _CLOSE:
            if self._stack:
                self._stack.pop()
        elif top is not None and top.is_object:
            if byte == ord(":"):
                top.expect_key = False
            elif byte == ord(","):
                top.expect_key, top.key = True, None

    def _streamed_value(self) -> _Sink | None:
        """Where a string value starting now goes, if not into the skeleton."""
        if self._at_audio():
            if self.audio_seen:
                raise bad_request("input_audio.data is given twice.", param=AUDIO_PARAM)
            return self.audio
        if self.new_reference is not None and self._at_reference():
            if len(self.references) >= MAX_KNOWN_SPEAKERS:
                raise too_many_references()
            self._reference = DataUrlFile(self.new_reference(), self.charge)
            self.references.append(self._reference.path)
            return self._reference
        return None

    def _at_audio(self) -> bool:
        """Whether a string value starting now is `input_audio.data` of the top-level object."""
        return (
            len(self._stack) == 2
            and self._stack[0].is_object
            and self._stack[0].key == AUDIO_PARAM.encode()
            and self._stack[1].is_object
            and self._stack[1].key == b"data"
        )

    def _at_reference(self) -> bool:
        """Whether a string value starting now is an item of the top-level `known_speaker_references`."""
        return (
            len(self._stack) == 2
            and self._stack[0].is_object
            and self._stack[0].key == REFERENCES_PARAM.encode()
            and not self._stack[1].is_object
        )

    def _feed_audio(self, chunk: bytes, i: int) -> int:
        """Consume the sink's text from `chunk[i:]`; return where the rest of the body resumes."""
        sink = self._sink
        assert sink is not None
        if self._escaped:
            self._escaped = False
            return self._unescape(sink, chunk, i)
        match = _STRING_END.search(chunk, i)
        end = match.start() if match else len(chunk)
        sink.write(chunk[i:end])
        if match is None:
            return end
        if chunk[end] == _BACKSLASH:
            if end + 1 == len(chunk):
                self._escaped = True  # the escaped character arrives with the next chunk
                return end + 1
            return self._unescape(sink, chunk, end + 1)
        sink.finish()
        if sink is self.audio:
            self.audio_seen = True
        else:
            sink.close()
            self._reference = None
        self._sink = None
        self.skeleton.append(_QUOTE)  # the skeleton keeps the key, with an empty string
        return end + 1

    def _unescape(self, sink: _Sink, chunk: bytes, i: int) -> int:
        replacement = _DATA_ESCAPES.get(chunk[i])
        if replacement is None:
            if sink is self.audio:
                raise bad_base64()
            raise invalid_reference("the data URL holds a character base64 does not")
        sink.write(replacement)
        return i + 1

    def close(self) -> None:
        if self._reference is not None:
            self._reference.close()


async def receive_json_upload(
    body: BodyReader,
    spool_path: Path,
    limits: FormLimits,
    charge: Callable[[int], None],
    *,
    new_file: Callable[[], Path] | None = None,
) -> Upload:
    """Read a JSON transcription body, its audio decoded into `spool_path` and each known speaker's
    reference clip into a `new_file()` (without it, references are plain fields); 400/413 `APIError`s
    if bad.

    `charge(n)` is called before `n` more audio bytes are written; it may raise to refuse them.
    """
    audio = Base64File(spool_path, limits.file_bytes, charge, invalid=bad_base64, too_large=audio_too_large)
    scanner = _Scanner(audio, limits.fields_bytes, new_reference=new_file, charge=charge)
    try:
        while not body.complete:
            scanner.feed(await body.read())
    finally:
        audio.close()
        scanner.close()
    document = _parse(bytes(scanner.skeleton))
    _check_audio(document.get(AUDIO_PARAM), scanner.audio_seen)
    streamed = {AUDIO_PARAM}
    if new_file is not None:
        _check_references(document.get(REFERENCES_PARAM), len(scanner.references))
        streamed.add(REFERENCES_PARAM)
    fields = [
        pair for name, value in document.items() if name not in streamed for pair in _pairs(name, value)
    ]
    upload = Upload(spool_path, fields, audio.size, sha256=audio.sha256.hexdigest())
    upload.references = scanner.references
    return upload


def _parse(skeleton: bytes) -> dict[str, object]:
    document = loads_strict(skeleton)
    if not isinstance(document, dict):
        raise bad_request("The JSON body must be an object with an `input_audio` field.")
    return document


def _check_audio(value: object, data_seen: bool) -> None:
    if value is None:
        raise bad_request(
            'No audio: send the recording as `input_audio: {"data": <base64>, "format": <ext>}`.',
            param=AUDIO_PARAM,
        )
    if not isinstance(value, dict) or not data_seen or value.get("data") != "":
        raise bad_request(
            "input_audio must be an object whose `data` is the recording as a base64 string.",
            param=AUDIO_PARAM,
        )
    if not isinstance(value.get("format", ""), str):
        raise bad_request("input_audio.format must be a string such as 'mp3'.", param=AUDIO_PARAM)


def _check_references(value: object, streamed: int) -> None:
    """`known_speaker_references` is absent, null, or an array whose items were all streamed (strings)."""
    if value is None:
        return
    if not isinstance(value, list) or len(value) != streamed:
        raise bad_request(
            "known_speaker_references must be an array of data URLs such as data:audio/wav;base64,….",
            param=REFERENCES_PARAM,
        )


def _pairs(name: str, value: object) -> list[tuple[str, str]]:
    """A JSON field as the form pairs a multipart body would carry for it."""
    if value is None:
        return []
    if name in _STRING_FIELDS and not isinstance(value, str):
        raise bad_request(f"`{name}` must be a string.", param=name)
    if isinstance(value, str):
        return [(name, value)]
    if isinstance(value, bool):
        return [(name, "true" if value else "false")]
    if isinstance(value, list):
        if not all(isinstance(item, str) for item in value):
            raise bad_request(f"`{name}` must be an array of strings.", param=name)
        return [(name, item) for item in value]
    return [(name, json.dumps(value))]  # numbers and objects (chunking_strategy): the form parses them
