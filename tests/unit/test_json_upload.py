"""The JSON transcription body (Open WebUI's `input_audio`), read from a scripted ASGI `receive`.

The audio goes through a streaming base64 decoder into a file; the rest becomes form pairs. Bodies are
cut into chunks at every possible place, since a chunk boundary may fall inside an escape or a quantum.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.datastructures import Headers

from gigaam_api.api.intake import is_json
from gigaam_api.api.json_upload import json_body_bytes, receive_json_upload
from gigaam_api.api.request_body import BodyLimits, BodyReader
from gigaam_api.api.upload import FormLimits, Upload
from gigaam_api.errors import APIError

FORM = FormLimits(file_bytes=10_000, fields_bytes=2_000)
AUDIO = bytes(range(256)) * 7 + b"tail"  # every byte value; a length that needs padding


def _chunks(body: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(body), *(c % (len(body) + 1) for c in cuts)})
    return [body[a:b] for a, b in itertools.pairwise(points)] or [b""]


def _read(tmp_path: Path, body: bytes, cuts: list[int] | None = None, form: FormLimits = FORM) -> Upload:
    pending = _chunks(body, cuts or [])

    async def receive() -> dict[str, Any]:
        chunk = pending.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(pending)}

    async def main() -> Upload:
        limits = BodyLimits(json_body_bytes(form), 30, min_bytes_per_second=0, rate_grace_seconds=0)
        reader = BodyReader(receive, limits)
        return await receive_json_upload(reader, tmp_path / "audio.upload", form, lambda _: None)

    return asyncio.run(main())


def _open_webui_body(data: str, **fields: object) -> bytes:
    document = {"model": "whisper-1", "language": "ru", "input_audio": {"data": data, "format": "mp3"}}
    return json.dumps(document | fields).encode()


@settings(max_examples=60, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=20_000), max_size=12))
def test_the_audio_arrives_whole_however_the_body_is_cut(tmp_path_factory: Any, cuts: list[int]) -> None:
    tmp_path = tmp_path_factory.mktemp("json")
    encoded = base64.b64encode(AUDIO).decode().replace("/", "\\/")  # as PHP's json_encode writes it
    body = _open_webui_body(encoded, response_format="verbose_json").replace(b"\\\\/", b"\\/")
    upload = _read(tmp_path, body, cuts)
    assert (tmp_path / "audio.upload").read_bytes() == AUDIO
    assert upload.file_size == len(AUDIO)
    assert upload.fields == [("model", "whisper-1"), ("language", "ru"), ("response_format", "verbose_json")]


def test_fields_become_the_pairs_a_multipart_body_would_carry(tmp_path: Path) -> None:
    data = base64.b64encode(AUDIO).decode().rstrip("=")  # unpadded base64 is accepted too
    body = _open_webui_body(
        data,
        temperature=0.2,
        stream=True,
        timestamp_granularities=["word", "segment"],
        chunking_strategy={"type": "server_vad", "threshold": 0.4},
        prompt=None,
    )
    upload = _read(tmp_path, body)
    assert (tmp_path / "audio.upload").read_bytes() == AUDIO
    assert upload.fields[2:] == [
        ("temperature", "0.2"),
        ("stream", "true"),
        ("timestamp_granularities", "word"),
        ("timestamp_granularities", "segment"),
        ("chunking_strategy", '{"type": "server_vad", "threshold": 0.4}'),
    ]


@pytest.mark.parametrize(
    ("body", "param", "fragment"),
    [
        (b'{"model": "whisper-1"}', "input_audio", "No audio"),
        (b'{"input_audio": "QUJD"}', "input_audio", "must be an object"),
        (b'{"input_audio": {"data": 12}}', "input_audio", "base64 string"),
        (b'{"input_audio": {"format": "mp3"}}', "input_audio", "base64 string"),
        (b'{"input_audio": {"data": "QUJD", "format": 3}}', "input_audio", "format must be a string"),
        (b'{"input_audio": {"data": "QU!D"}}', "input_audio", "not valid base64"),
        (b'{"input_audio": {"data": "QQ==QUJD"}}', "input_audio", "not valid base64"),
        (b'{"input_audio": {"data": "QUJDR"}}', "input_audio", "not valid base64"),
        (b'{"input_audio": {"data": "QU\\u0042D"}}', "input_audio", "not valid base64"),
        (b'{"input_audio": {"data": "QUJD", "data": "QUJD"}}', "input_audio", "given twice"),
        (b'{"input_audio": {"data": "QUJD"}, "model": 5}', "model", "must be a string"),
        (b'{"input_audio": {"data": "QUJD"}, "include": [1]}', "include", "array of strings"),
        (b'{"input_audio": {"data": "QUJD"}', None, "malformed"),
        (b'{"input_audio": {"data": "QUJD"}} trailing', None, "malformed"),
        (b'[{"input_audio": {"data": "QUJD"}}]', None, "must be an object"),
        (b'{"a": [[[[[]]]]], "input_audio": {"data": "QUJD"}}', None, "nested too deeply"),
    ],
)
def test_bad_bodies_are_400_naming_the_field(
    tmp_path: Path, body: bytes, param: str | None, fragment: str
) -> None:
    with pytest.raises(APIError) as info:
        _read(tmp_path, body)
    assert info.value.status == 400
    assert info.value.param == param
    assert fragment in info.value.message


def test_audio_over_the_upload_limit_is_413_while_it_streams(tmp_path: Path) -> None:
    form = FormLimits(file_bytes=1000, fields_bytes=2_000)
    body = _open_webui_body(base64.b64encode(bytes(3000)).decode())
    pending = _chunks(body, list(range(0, len(body), 100)))
    received: list[int] = []

    async def receive() -> dict[str, Any]:
        chunk = pending.pop(0)
        received.append(len(chunk))
        return {"type": "http.request", "body": chunk, "more_body": bool(pending)}

    async def main() -> None:
        limits = BodyLimits(10**6, idle_seconds=30, min_bytes_per_second=0, rate_grace_seconds=0)
        await receive_json_upload(BodyReader(receive, limits), tmp_path / "a.upload", form, lambda _: None)

    with pytest.raises(APIError) as info:
        asyncio.run(main())
    assert (info.value.status, info.value.code, info.value.param) == (413, "file_too_large", "input_audio")
    assert sum(received) < len(body) / 2, "refused as soon as the decoded audio passed the limit"


def test_fields_outside_the_audio_are_bounded(tmp_path: Path) -> None:
    body = _open_webui_body("QUJD", prompt="x" * 5000)
    with pytest.raises(APIError) as info:
        _read(tmp_path, body)
    assert (info.value.status, info.value.code) == (413, "fields_too_large")


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("application/json", True),
        ("Application/JSON; charset=utf-8", True),
        ("multipart/form-data; boundary=x", False),
        ("text/plain", False),
        ("", False),
    ],
)
def test_json_bodies_are_told_by_their_content_type(content_type: str, expected: bool) -> None:
    assert is_json(Headers({"content-type": content_type})) is expected


def _read_with_references(tmp_path: Path, body: bytes, cuts: list[int] | None = None) -> Upload:
    pending = _chunks(body, cuts or [])
    made: list[Path] = []

    async def receive() -> dict[str, Any]:
        chunk = pending.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(pending)}

    def new_file() -> Path:
        made.append(tmp_path / f"{len(made)}.reference")
        return made[-1]

    async def main() -> Upload:
        limits = BodyLimits(10**6, 30, min_bytes_per_second=0, rate_grace_seconds=0)
        reader = BodyReader(receive, limits)
        upload = tmp_path / "audio.upload"
        return await receive_json_upload(reader, upload, FORM, lambda _: None, new_file=new_file)

    return asyncio.run(main())


CLIPS = (b"RIFF first clip" * 50, bytes(range(256)) * 3)


@settings(max_examples=40, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=4_000), max_size=10))
def test_known_speaker_references_are_streamed_to_files_not_fields(
    tmp_path_factory: Any, cuts: list[int]
) -> None:
    """OpenAI's `known_speaker_references` in a JSON body: each data URL into a file of its own (the
    skeleton, bounded by MAX_FORM_FIELDS_BYTES, never holds them), escapes and all, however cut."""
    tmp_path = tmp_path_factory.mktemp("json-refs")
    urls = [("data:audio/wav;base64," + base64.b64encode(c).decode()).replace("/", "\\/") for c in CLIPS]
    body = _open_webui_body(
        base64.b64encode(AUDIO).decode(), diarize=True, known_speaker_names=["Olga", "Ivan"]
    )
    body = body[:-1] + b', "known_speaker_references": [' + ", ".join(f'"{u}"' for u in urls).encode() + b"]}"
    assert len(body) > FORM.fields_bytes  # the clips alone are larger than the fields may be

    upload = _read_with_references(tmp_path, body, cuts)

    assert [p.read_bytes() for p in upload.references] == list(CLIPS)
    assert ("known_speaker_names", "Olga") in upload.fields
    assert all(name != "known_speaker_references" for name, _ in upload.fields)
    assert upload.path.read_bytes() == AUDIO


@pytest.mark.parametrize(
    ("references", "words"),
    [
        ('"data:audio/wav;base64,AAAA"', "must be an array of data URLs"),
        ("[1, 2]", "must be an array of data URLs"),
        ('["audio/wav;base64,AAAA"]', "base64 data URL such as"),
        ('["data:audio/wav;base64,A\\u0041AA"]', "a character base64 does not"),
        ("[" + ", ".join(['"data:audio/wav;base64,AAAA"'] * 5) + "]", "At most 4"),
    ],
)
def test_bad_known_speaker_references_in_json_are_a_clear_400(
    tmp_path: Path, references: str, words: str
) -> None:
    body = _open_webui_body(base64.b64encode(AUDIO).decode())
    body = body[:-1] + b', "known_speaker_references": ' + references.encode() + b"}"
    with pytest.raises(APIError) as refused:
        _read_with_references(tmp_path, body)
    assert (refused.value.status, refused.value.param) == (400, "known_speaker_references")
    assert words in refused.value.message
