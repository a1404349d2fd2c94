"""Bounded fuzzing of the request parsing against a real server: multipart forms (both stream modes),
JSON upload bodies, the page's /web/render, and the /v1/jobs routes with their query and headers.

Mutated bodies (boundaries, part headers, truncation, duplicated parts, inserted bytes, huge and
deeply nested fields, random bytes, NaN/Infinity/1e400, lone surrogates) and hostile `Last-Event-ID`s
must each get a response below 500 with no traceback or server path in it, and the connection must
then be closed as announced or usable for another request. `FUZZ_EXAMPLES` sets the number of
multipart requests, and an eighth of it each of the others (`make fuzz` runs many more than `make test`).

`make test` draws the same examples every run, `make fuzz` new ones each time (the hypothesis profiles in
tests/conftest.py).
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote, urlencode

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gigaam_api
from tests.fixtures.jobs import submit, wait_finished
from tests.fixtures.live_server import LiveServer, start_server
from tests.fixtures.raw_http import RawConnection, RawResponse
from tests.fixtures.speech import write_wav

T = TypeVar("T")
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "400"))
SIDE_EXAMPLES = max(EXAMPLES // 8, 1)  # each of the JSON, render and jobs-route tests
FILE_LIMIT_MB = 0.05
OUTCOMES: Counter[int] = Counter()


@pytest.fixture(scope="module")
def fuzz_server(settings_factory: Callable[..., object]) -> Iterator[LiveServer]:
    live = start_server(
        settings_factory(MAX_UPLOAD_MB=FILE_LIMIT_MB, MAX_FORM_FIELDS_BYTES=32 * 1024, JOBS_WORKERS=1)  # type: ignore[arg-type]
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
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
@given(request=requests())
def test_fuzzed_multipart_never_gets_a_500_or_a_dropped_connection(
    fuzz_server: LiveServer, request: tuple[str, bytes]
) -> None:
    content_type, body = request
    with RawConnection(fuzz_server.url) as conn:
        response = conn.request("POST", "/v1/audio/transcriptions", [("Content-Type", content_type)], body)
        _check(fuzz_server, conn, response)


# ---- JSON bodies, /web/render, /v1/jobs routes ------------------------------------------------------

SURROGATES = ["\ud800", "a\udfff", "\ud83d", "текст\udc00"]
TEXT = st.one_of(st.sampled_from(GOOD_VALUES), st.text(max_size=20), st.sampled_from(SURROGATES))
NUMBERS = st.one_of(
    st.floats(),  # with NaN and ±Infinity, written as JSON never allows
    st.floats(0, 100),
    st.integers(-(2**70), 2**70),
    st.sampled_from([0, 1e308, -0.0, 10**400]),
    TEXT,
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | NUMBERS | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)
JSON_FIELDS = [name for name in FIELD_NAMES if name != "file"] + [
    "url",
    "callback_url",
    "include",
    "x_unknown",
]
JSON_MUTATIONS: dict[str, Callable[[st.DrawFn, bytes], bytes]] = {
    **MUTATIONS,
    "huge_exponent": lambda draw, body: body.replace(b"0", b"1e400", 1),
    "nan_literal": lambda draw, body: body.replace(b"0", b"NaN", 1),
}
LAST_EVENT_IDS = st.one_of(
    st.integers(-(2**70), 2**70).map(str),
    st.integers(-3, 6).map(str),
    st.sampled_from(["", "1.5", "+1", "01", "0x1", "1e3", "\xb2", "9" * 5000]),
    st.text(st.characters(min_codepoint=0x21, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=30),
)


def _json(draw: st.DrawFn, value: object) -> bytes:
    """`value` as JSON: `\\ud800` escapes or raw surrogate bytes, NaN/Infinity as Python writes them."""
    text = json.dumps(value, ensure_ascii=draw(st.booleans()))
    body = text.encode("utf-8", "surrogatepass")
    mutation = draw(mostly("none", *(name for name in JSON_MUTATIONS if name != "none")))
    return JSON_MUTATIONS[mutation](draw, body)


@st.composite
def json_uploads(draw: st.DrawFn) -> tuple[str, bytes]:
    """(route, body) for a JSON transcription body (Open WebUI's format) sent to either route."""
    value = st.one_of(TEXT, TEXT, TEXT, JSON_VALUES)  # mostly strings, as the fields are
    body: dict[str, object] = {
        name: draw(value) for name in draw(st.lists(st.sampled_from(JSON_FIELDS), max_size=5))
    }
    good_audio = {"data": base64.b64encode(TONE).decode(), "format": "wav"}
    body["input_audio"] = draw(mostly(good_audio, {"data": "UklGRg", "format": 1}, "x", {"data": None}, None))
    route = draw(st.sampled_from(["/v1/audio/transcriptions", "/v1/jobs"]))
    return route, _json(draw, draw(mostly(body, draw(JSON_VALUES))))


@st.composite
def render_bodies(draw: st.DrawFn) -> bytes:
    # Mostly well typed, so most bodies get past validation to the renderer.
    time = st.one_of(st.floats(0, 100), st.floats(0, 100), st.floats(0, 100), NUMBERS)
    ids = st.one_of(st.integers(0, 20), st.integers(0, 20).map(str), NUMBERS)
    word = st.fixed_dictionaries({"word": TEXT, "start": time, "end": time})
    segment = st.fixed_dictionaries(
        {"id": ids, "start": time, "end": time, "text": TEXT},
        optional={"words": st.lists(word, max_size=4), "type": TEXT, "speaker": TEXT},
    )
    body = {
        "response_format": draw(mostly("srt", "vtt", "json", "verbose_json", "text", "docx")),
        "duration": draw(mostly(12.5, *draw(st.lists(NUMBERS, min_size=1, max_size=1)))),
        "segments": draw(st.lists(segment, max_size=6)),
        "words": draw(mostly(True, False, "yes", None)),
    }
    if draw(st.integers(0, 9)) == 0:
        body.pop(draw(st.sampled_from(list(body))))
    return _json(draw, draw(mostly(body, draw(JSON_VALUES))))


@pytest.fixture(scope="module")
def finished_job(fuzz_server: LiveServer, audio_dir: Path) -> tuple[str, int]:
    """A job that ran to its end on the fuzz server: (id, its last event id)."""
    job = submit(fuzz_server.url, audio_dir / "weather.m4a")  # under the fuzz server's MAX_UPLOAD_MB
    done = wait_finished(fuzz_server.url, job["id"])
    assert done["status"] == "succeeded", done
    return job["id"], 2 * done["progress"]["segments"]


@st.composite
def job_requests(draw: st.DrawFn, known: str) -> tuple[str, str, list[tuple[str, str]]]:
    """(method, path, headers) on the /v1/jobs routes, mostly about the job `known`."""
    job_id = draw(mostly(known, "job_" + "0" * 24, "", "../../etc/passwd", "x" * 5000, *SURROGATES[:1]))
    quoted = quote(draw(mostly(job_id, draw(st.text(max_size=30)))).encode("utf-8", "surrogatepass"), safe="")
    method, suffix = draw(
        st.sampled_from(
            [("GET", ""), ("GET", "/events"), ("GET", "/events"), ("GET", "/result"), ("POST", "/cancel")]
        )
    )
    if job_id != known and draw(st.booleans()):
        method, suffix = "DELETE", ""
    path = f"/v1/jobs/{quoted}{suffix}"
    if draw(st.integers(0, 4)) == 0:  # the list instead
        method, path = "GET", "/v1/jobs"
    names = ["response_format", "timestamp_granularities[]", "include[]", "limit", "status", "after"]
    query = [(draw(st.sampled_from(names)), draw(TEXT)) for _ in range(draw(st.integers(0, 3)))]
    if query:
        path += "?" + urlencode([(n, v.encode("utf-8", "surrogatepass")) for n, v in query])
    headers = []
    if draw(st.integers(0, 3)) > 0:
        headers.append(("Last-Event-ID", draw(LAST_EVENT_IDS)))
    return method, path, headers


def _leaks(server: LiveServer) -> list[bytes]:
    """What no response may contain: a traceback, or a path on the server."""
    settings = server.state.settings
    paths = (settings.SPOOL_DIR, settings.JOBS_DIR, settings.MODELS_DIR, Path(gigaam_api.__file__).parent)
    return [b"Traceback", b'File "', b"site-packages", *(str(p).encode() for p in paths)]


def _check(server: LiveServer, conn: RawConnection, response: RawResponse, *, echoes: bool = False) -> None:
    """Below 500, errors in the envelope, no leak (`echoes`: a 2xx body is the client's own text)."""
    OUTCOMES[response.status] += 1
    assert response.status < 500, response.body[:1000]
    if response.status >= 400:
        assert set(response.json()["error"]) == {"message", "type", "param", "code"}
    if not (echoes and response.status < 300):
        for leak in _leaks(server):
            assert leak not in response.body, (leak, response.body[:1000])
    assert conn.is_healthy_after(response)


FUZZ_SETTINGS = settings(
    max_examples=SIDE_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)


@FUZZ_SETTINGS
@given(request=json_uploads())
def test_fuzzed_json_bodies_never_get_a_500(fuzz_server: LiveServer, request: tuple[str, bytes]) -> None:
    route, body = request
    with RawConnection(fuzz_server.url) as conn:
        response = conn.request("POST", route, [("Content-Type", "application/json")], body)
        _check(fuzz_server, conn, response)


@FUZZ_SETTINGS
@given(
    body=render_bodies(),
    content_type=mostly("application/json", "text/plain", "application/json; charset=utf-8"),
)
def test_fuzzed_render_bodies_never_get_a_500(
    fuzz_server: LiveServer, body: bytes, content_type: str
) -> None:
    with RawConnection(fuzz_server.url) as conn:
        response = conn.request("POST", "/web/render", [("Content-Type", content_type)], body)
        _check(fuzz_server, conn, response, echoes=True)


@FUZZ_SETTINGS
@given(data=st.data())
def test_fuzzed_job_routes_never_get_a_500_or_an_invented_event(
    fuzz_server: LiveServer, finished_job: tuple[str, int], data: st.DataObject
) -> None:
    job_id, last = finished_job
    method, path, headers = data.draw(job_requests(job_id))
    with RawConnection(fuzz_server.url) as conn:
        response = conn.request(method, path, [(n, v.encode("latin-1")) for n, v in headers if v])
        _check(fuzz_server, conn, response)
    if response.status == 200 and path.startswith(f"/v1/jobs/{job_id}/events"):
        after = int(dict(headers).get("Last-Event-ID") or 0)
        assert 0 <= after <= last, f"Last-Event-ID {after} accepted; the stream sent 1..{last}"
        ids = [int(line[4:]) for line in response.body.decode().splitlines() if line.startswith("id: ")]
        assert ids == list(range(after + 1, last + 1)), (after, ids)
