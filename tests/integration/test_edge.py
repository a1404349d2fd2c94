"""Client mistakes at the HTTP edge, on raw sockets against a real server: each gets the right 4xx in
OpenAI's envelope, and the connection is either closed as announced or usable for the next request."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from tests.fixtures.live_server import LiveServer, start_server
from tests.fixtures.raw_http import RawConnection, RawResponse, field_part, file_part, multipart
from tests.fixtures.speech import write_wav

LIMIT_MB = 0.1  # MAX_UPLOAD_MB of the module's server
LIMIT = int(LIMIT_MB * 1024 * 1024)
BOUNDARY = b"edge-test-boundary"


@pytest.fixture(scope="module")
def edge_server(settings_factory: Callable[..., object]) -> Iterator[LiveServer]:
    live = start_server(settings_factory(MAX_UPLOAD_MB=LIMIT_MB, MAX_FORM_FIELDS_BYTES=256 * 1024))  # type: ignore[arg-type]
    yield live
    live.stop()


@pytest.fixture(scope="module")
def tone(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """Half a second of a 440 Hz tone as a 16 kHz WAV (16 KB)."""
    path = tmp_path_factory.mktemp("tone") / "tone.wav"
    samples = 0.3 * np.sin(2 * np.pi * 440 * np.arange(8000) / 16000)
    return write_wav(path, samples).read_bytes()


def _assert_error(response: RawResponse, status: int, words: str, code: str | None = None) -> None:
    assert response.status == status, response.body
    assert response.headers["x-request-id"].startswith("req_")
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    assert words in body["error"]["message"], body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code


Case = tuple[bytes, bytes, int, str]  # boundary, body, expected status, words expected in the message


def _fields_case(fields: list[tuple[bytes, bytes]], status: int, words: str) -> Callable[[bytes], Case]:
    return lambda wav: (BOUNDARY, multipart([file_part(wav), *fields], BOUNDARY), status, words)


def _oversized_file(extra: int) -> Callable[[bytes], Case]:
    return lambda _: (BOUNDARY, multipart([file_part(bytes(LIMIT + extra))], BOUNDARY), 413, "MAX_UPLOAD_MB")


def _boundary(length: int) -> Callable[[bytes], Case]:
    boundary = b"b" * length
    return lambda wav: (boundary, multipart([file_part(wav)], boundary), 400, "at most 70")


def _nested(param: str) -> Callable[[bytes], Case]:
    return _fields_case([field_part(param, "[" * 50_000)], 400, "nested too deeply")


CASES: dict[str, Callable[[bytes], Case]] = {
    "two_file_parts": lambda wav: (
        BOUNDARY,
        multipart([file_part(wav), file_part(wav)], BOUNDARY),
        400,
        "Only one `file`",
    ),
    "random_bytes": lambda _: (BOUNDARY, os.urandom(2048), 400, "malformed"),
    "file_1_byte_over": _oversized_file(1),
    "file_70kb_over": _oversized_file(70_000),
    "1001_fields": _fields_case([field_part(f"f{i}", "x") for i in range(1001)], 400, "Too many form fields"),
    "70kb_field_after_file": _fields_case([field_part("prompt", "x" * 70_000)], 400, "longer than"),
    "fields_over_total": _fields_case(
        [field_part(f"f{i}", "x" * 60_000) for i in range(5)], 413, "MAX_FORM_FIELDS_BYTES"
    ),
    "boundary_71": _boundary(71),
    "boundary_300": _boundary(300),
    "truncated": lambda wav: (BOUNDARY, multipart([file_part(wav)], BOUNDARY)[:-30], 400, "truncated"),
    "not_multipart": lambda _: (b"", b"hello", 400, "multipart/form-data"),
    "nested_chunking_strategy": _nested("chunking_strategy"),
    "nested_timestamp_granularities[]": _nested("timestamp_granularities[]"),
    "nested_include[]": _nested("include[]"),
}


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("case", list(CASES))
def test_client_mistakes_are_4xx_and_leave_the_connection_usable(
    edge_server: LiveServer, tone: bytes, case: str, stream: bool
) -> None:
    boundary, body, status, words = CASES[case](tone)
    if stream and boundary and case not in ("random_bytes", "truncated"):
        body = multipart([field_part("stream", "true")], boundary)[: -len(boundary) - 6] + body
    content_type = f"multipart/form-data; boundary={boundary.decode()}" if boundary else "text/plain"
    with RawConnection(edge_server.url) as conn:
        response = conn.request("POST", "/v1/audio/transcriptions", [("Content-Type", content_type)], body)
        _assert_error(response, status, words)
        assert conn.is_healthy_after(response)
    assert list(edge_server.state.spool.path.iterdir()) == []


def test_a_good_request_after_a_bad_one_on_the_same_connection(edge_server: LiveServer, tone: bytes) -> None:
    with RawConnection(edge_server.url) as conn:
        bad = conn.post_form(multipart([file_part(tone), file_part(tone)], BOUNDARY), BOUNDARY)
        assert bad.status == 400 and not bad.closes
        conn.conn.start_next_cycle()
        good = conn.post_form(
            multipart([field_part("response_format", "text"), file_part(tone)], BOUNDARY), BOUNDARY
        )
        assert good.status == 200, good.body


def test_declared_length_over_the_limit_is_413_before_100_continue(edge_server: LiveServer) -> None:
    with RawConnection(edge_server.url) as conn:
        conn.send_head(
            "POST",
            "/v1/audio/transcriptions",
            [
                ("Content-Type", f"multipart/form-data; boundary={BOUNDARY.decode()}"),
                ("Content-Length", str(10 * 1024**3)),
                ("Expect", "100-continue"),
            ],
        )
        response = conn.response()
        _assert_error(response, 413, "Content-Length", code="file_too_large")
        assert response.informational == []
        assert response.closes and conn.closed_by_server()


def test_accepted_upload_gets_100_continue(edge_server: LiveServer, tone: bytes) -> None:
    body = multipart([field_part("response_format", "text"), file_part(tone)], BOUNDARY)
    with RawConnection(edge_server.url) as conn:
        conn.send_head(
            "POST",
            "/v1/audio/transcriptions",
            [
                ("Content-Type", f"multipart/form-data; boundary={BOUNDARY.decode()}"),
                ("Content-Length", str(len(body))),
                ("Expect", "100-continue"),
            ],
        )
        conn.send_body(body)
        response = conn.response()
    assert response.status == 200 and response.informational == [100]


def test_streamed_body_past_the_limit_is_cut_off_early(edge_server: LiveServer) -> None:
    """Chunked upload of 64 MiB, no declared length: the 413 arrives long before the body is sent."""
    total, chunk = 64 * 1024 * 1024, 64 * 1024
    head = multipart([file_part(b"")], BOUNDARY)[: -len(BOUNDARY) - 8]
    with RawConnection(edge_server.url) as conn:
        conn.send_head(
            "POST",
            "/v1/audio/transcriptions",
            [
                ("Content-Type", f"multipart/form-data; boundary={BOUNDARY.decode()}"),
                ("Transfer-Encoding", "chunked"),
            ],
        )
        sent = conn.send_chunked_until_answered(head, bytes(chunk), total)
        response = conn.response()
    _assert_error(response, 413, "MAX_UPLOAD_MB", code="file_too_large")
    assert response.closes
    assert sent < total // 4, f"{sent} of {total} bytes sent before the 413"


def test_unread_body_of_an_unauthorised_request_closes_the_connection(
    make_server: Callable[..., LiveServer], tone: bytes
) -> None:
    live = make_server(API_KEY="secret")
    with RawConnection(live.url) as conn:
        conn.send_head(
            "POST",
            "/v1/audio/transcriptions",
            [
                ("Content-Type", f"multipart/form-data; boundary={BOUNDARY.decode()}"),
                ("Content-Length", "5000000"),
            ],
        )
        response = conn.response()
        _assert_error(response, 401, "API key", code="invalid_api_key")
        assert response.closes and conn.closed_by_server()


def test_health_reports_upload_limits(edge_server: LiveServer) -> None:
    with RawConnection(edge_server.url) as conn:
        health = conn.request("GET", "/health").json()
    assert health["uploads"] == 0 and health["upload_bytes"] == 0 and health["max_uploads"] >= 1
    assert health["spool_bytes"] == 0
