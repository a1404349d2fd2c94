"""Bounded fuzzing of the multipart and form-field parsing against a real server, both stream modes.

Mutated bodies (boundaries, part headers, truncation, duplicated parts, inserted bytes, huge and
deeply nested fields, random bytes) must each get a response below 500, and the connection must then
be closed as announced or usable for another request. `FUZZ_EXAMPLES` sets the number of requests
(`make fuzz` runs many more than `make test`).
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import LiveServer, start_server
from tests.fixtures.raw_http import RawConnection
from tests.fixtures.speech import write_wav

T = TypeVar("T")
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "400"))
FILE_LIMIT_MB = 0.05
OUTCOMES: Counter[int] = Counter()


@pytest.fixture(scope="module")
def fuzz_server(settings_factory: Callable[..., object]) -> Iterator[LiveServer]:
    live = start_server(
        settings_factory(MAX_UPLOAD_MB=FILE_LIMIT_MB, MAX_FORM_FIELDS_BYTES=32 * 1024)  # type: ignore[arg-type]
    )
    yield live
    live.stop()
    if OUTCOMES:
        print(f"\nfuzz: {sum(OUTCOMES.values())} requests, statuses {dict(sorted(OUTCOMES.items()))}")


def _tone() -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        samples = 0.3 * np.sin(2 * np.pi * 440 * np.arange(8000) / 16000)
        return write_wav(Path(tmp) / "t.wav", samples).read_bytes()


def mostly(good: T, *bad: T) -> st.SearchStrategy[T]:
    """`good` four times in five, else one of `bad`: most requests get far enough to be parsed."""
    return st.sampled_from([good] * 4 * len(bad) + list(bad))


TONE = _tone()
FIELD_NAMES = [
    "model", "language", "prompt", "response_format", "temperature", "timestamp_granularities[]",
    "timestamp_granularities", "include[]", "chunking_strategy", "chunking_strategy[type]",
    "chunking_strategy[threshold]", "stream", "file",
]  # fmt: skip
GOOD_VALUES = [
    "json", "verbose_json", "text", "srt", "vtt", "word", "segment", "logprobs", "auto", "ru", "en", "true",
    "false", "0.5", "nan", "whisper-1", '["word"]', '{"type":"server_vad"}',
]  # fmt: skip
FIELD_VALUES = st.one_of(
    st.sampled_from(GOOD_VALUES),
    st.sampled_from(GOOD_VALUES),
    st.text(max_size=40),
    st.binary(max_size=40),
    st.integers(1, 60_000).map(lambda n: "[" * n),
    st.integers(1, 3000).map(lambda n: '{"a":' * n + "1" + "}" * n),
    st.integers(1, 80_000).map(lambda n: "x" * n),
)
FILE_CONTENTS = st.one_of(
    st.just(TONE),
    st.just(TONE),
    st.just(b""),
    st.text(max_size=200).map(str.encode),
    st.integers(50_000, 60_000).map(bytes),  # around MAX_UPLOAD_MB
)


def _bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")


@st.composite
def part_headers(draw: st.DrawFn, name: str, *, filename: bool) -> bytes:
    quoted = draw(mostly(f'"{name}"', name, f'"{name}', "", '"na\\"me"', "*=UTF-8''" + name))
    disposition = f"Content-Disposition: form-data; name={quoted}"
    if filename:
        disposition += '; filename="a.wav"'
    lines = [_bytes(disposition)]
    if draw(st.booleans()):
        lines.append(b"Content-Type: " + draw(st.sampled_from([b"audio/wav", b"text/plain", b"\xff\x00"])))
    extra = draw(mostly("none", "random", "many", "long", "no_colon", "no_disposition"))
    if extra == "random":
        lines.append(draw(st.binary(max_size=60)))
    elif extra == "many":
        lines += [f"X-H{i}: v".encode() for i in range(draw(st.integers(1, 12)))]
    elif extra == "long":
        lines.append(b"X-Long: " + b"v" * draw(st.integers(1000, 9000)))
    elif extra == "no_colon":
        lines.append(b"this is no header")
    elif extra == "no_disposition":
        lines = lines[1:]
    return b"\r\n".join(lines)


@st.composite
def parts(draw: st.DrawFn, stream: bool) -> list[tuple[bytes, bytes]]:
    result = [(b'Content-Disposition: form-data; name="stream"', b"true" if stream else b"false")]
    for _ in range(draw(st.integers(0, 4))):
        name = draw(st.sampled_from(FIELD_NAMES))
        result.append((draw(part_headers(name, filename=False)), _bytes(draw(FIELD_VALUES))))
    if draw(st.integers(0, 9)) > 0:  # usually a file part, anywhere
        position = draw(st.integers(0, len(result)))
        result.insert(position, (draw(part_headers("file", filename=True)), draw(FILE_CONTENTS)))
    if draw(st.integers(0, 9)) == 0:  # a duplicated part
        result.append(draw(st.sampled_from(result)))
    return result


def _insert(draw: st.DrawFn, body: bytes) -> bytes:
    at = draw(st.integers(0, len(body)))
    return body[:at] + draw(st.binary(min_size=1, max_size=64)) + body[at:]


MUTATIONS: dict[str, Callable[[st.DrawFn, bytes], bytes]] = {
    "none": lambda _, body: body,
    "truncate": lambda draw, body: body[: draw(st.integers(0, len(body)))],
    "insert": _insert,
    "preamble": lambda draw, body: draw(st.binary(max_size=64)) + b"\r\n" + body,
    "epilogue": lambda draw, body: body + draw(st.binary(max_size=200_000)),
    "random": lambda draw, _: draw(st.binary(max_size=4096)),
    "crlf": lambda _, body: body.replace(b"\r\n", b"\n"),
}


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, bytes]:
    """(Content-Type header, body) for one mutated multipart request."""
    boundary = draw(
        st.one_of(
            st.just("fuzz-boundary"),
            st.just("fuzz-boundary"),
            st.text(alphabet="abcXYZ0123456789'()+_,-./:=? ", min_size=1, max_size=70),
            st.integers(71, 400).map(lambda n: "b" * n),
        )
    )
    delimiter = _bytes(draw(mostly(boundary, boundary + "x", boundary[:-1])))
    body_parts = draw(parts(draw(st.booleans())))
    body = b"".join(b"--" + delimiter + b"\r\n" + h + b"\r\n\r\n" + c + b"\r\n" for h, c in body_parts)
    closing = b"--" + delimiter + b"--"
    body += draw(mostly(closing + b"\r\n", closing, b"", b"--" + delimiter + b"\r\n"))
    content_type = draw(
        mostly(
            f"multipart/form-data; boundary={boundary}",
            f'multipart/form-data; boundary="{boundary}"',
            f"Multipart/Form-Data; charset=utf-8; boundary={boundary}",
            "multipart/form-data",
            f"multipart/mixed; boundary={boundary}",
            "application/json",
        )
    )
    mutation = draw(mostly("none", *(name for name in MUTATIONS if name != "none")))
    return content_type.strip(), MUTATIONS[mutation](draw, body)  # header values cannot end in a space


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
@given(request=requests())
def test_fuzzed_multipart_never_gets_a_500_or_a_dropped_connection(
    fuzz_server: LiveServer, request: tuple[str, bytes]
) -> None:
    content_type, body = request
    with RawConnection(fuzz_server.url) as conn:
        response = conn.request("POST", "/v1/audio/transcriptions", [("Content-Type", content_type)], body)
        OUTCOMES[response.status] += 1
        assert response.status < 500, response.body
        if response.status >= 400:
            assert set(response.json()["error"]) == {"message", "type", "param", "code"}
        assert conn.is_healthy_after(response)
