"""POST /web/render against a real server: an upload like any other (key, size and time limits, upload
slot), strictly validated, and rendered off the event loop."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from gigaam_api.formats.render import Body, render
from tests.fixtures.live_server import LiveServer, start_server
from tests.fixtures.raw_http import RawConnection, RawResponse
from tests.fixtures.waiting import HANG_GUARD_SECONDS, wait_until

KEY = "render-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
LIMIT_MB = 1
GOOD: dict[str, Any] = {
    "response_format": "srt",
    "duration": 4.0,
    "segments": [
        {
            "id": "0",
            "start": 0.0,
            "end": 1.5,
            "text": "привет",
            "words": [{"word": "привет", "start": 0, "end": 1.5}],
        },
        {
            "id": "1",
            "start": 2.0,
            "end": 3.5,
            "text": "мир",
            "type": "transcript.text.segment",
            "speaker": "A",
        },
    ],
}


@pytest.fixture(scope="module")
def live(settings_factory: Callable[..., Any]) -> Iterator[LiveServer]:
    server = start_server(
        settings_factory(API_KEY=KEY, WEB_RENDER_MAX_MB=LIMIT_MB, UPLOAD_IDLE_TIMEOUT_SECONDS=1)
    )
    yield server
    server.stop()


def _post(live: LiveServer, content: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(
        live.url + "/web/render",
        content=content,
        headers={"Content-Type": "application/json", **AUTH, **(headers or {})},
        timeout=60,
    )


def _assert_error(
    response: httpx.Response | RawResponse, status: int, code: str | None = None
) -> dict[str, Any]:
    got = response.status_code if isinstance(response, httpx.Response) else response.status
    assert got == status, response.json() if got != 200 else response
    error: dict[str, Any] = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert code is None or error["code"] == code, error
    assert not any(leak in error["message"] for leak in ("Traceback", ".py", "/tmp", "gigaam_api"))
    return error


def test_a_good_body_renders_like_the_api(live: LiveServer) -> None:
    response = _post(live, json.dumps(GOOD).encode())
    assert response.status_code == 200, response.text
    assert (
        response.text == "1\n00:00:00,000 --> 00:00:01,500\nпривет\n\n2\n00:00:02,000 --> 00:00:03,500\nмир\n"
    )


def test_it_needs_the_key_before_the_body_is_read(live: LiveServer) -> None:
    with RawConnection(live.url) as conn:  # declares 20 MB and sends none of it
        conn.send_head(
            "POST", "/web/render", [("Content-Type", "application/json"), ("Content-Length", "20000000")]
        )
        _assert_error(conn.response(), 401, "invalid_api_key")


def test_a_declared_body_over_the_limit_is_413_before_it_is_sent(live: LiveServer) -> None:
    with RawConnection(live.url) as conn:
        conn.send_head(
            "POST",
            "/web/render",
            [
                ("Content-Type", "application/json"),
                ("Content-Length", str(20 * 1024 * 1024)),
                ("Expect", "100-continue"),
                *AUTH.items(),
            ],
        )
        response = conn.response()  # none of the 20 MB was sent
        error = _assert_error(response, 413, "request_too_large")
        assert "WEB_RENDER_MAX_MB" in error["message"]
        assert response.informational == [], "no 100 Continue: the client is told not to send it"
        assert response.closes and conn.closed_by_server()


def test_a_chunked_body_is_cut_off_at_the_limit(live: LiveServer) -> None:
    total = 64 * 1024 * 1024  # far beyond what the socket buffers hold
    segment = b'{"id": 0, "start": 0, "end": 0, "text": "x"},'
    with RawConnection(live.url) as conn:
        conn.send_head(
            "POST",
            "/web/render",
            [("Content-Type", "application/json"), ("Transfer-Encoding", "chunked"), *AUTH.items()],
        )
        sent = conn.send_chunked_until_answered(
            b'{"response_format": "srt", "segments": [', segment * 1000, total
        )
        _assert_error(conn.response(), 413, "request_too_large")
    assert sent < total // 4, f"{sent} of {total} bytes sent before the 413"


def test_a_stalled_body_is_408(live: LiveServer) -> None:
    body = json.dumps(GOOD).encode()
    with RawConnection(live.url) as conn:
        conn.send_head(
            "POST",
            "/web/render",
            [("Content-Type", "application/json"), ("Content-Length", str(len(body))), *AUTH.items()],
        )
        conn.send_body(body[:10], end=False)  # and then nothing: UPLOAD_IDLE_TIMEOUT_SECONDS=1
        _assert_error(conn.response(), 408, "upload_timeout")


def _segments(count: int, words: int = 0) -> list[dict[str, Any]]:
    word = {"word": "а", "start": 0.0, "end": 0.1}
    return [{"id": i, "start": 0.0, "end": 0.1, "text": "а", "words": [word] * words} for i in range(count)]


def _with(**changes: Any) -> bytes:
    return json.dumps({**GOOD, **changes}).encode()


def _raw_segment_text(text: bytes) -> bytes:
    return (
        b'{"response_format": "srt", "duration": 1, "segments": [{"id": 0, "start": 0, "end": 1, "text": "'
        + text
        + b'"}]}'
    )


@pytest.mark.parametrize(
    ("body", "code"),
    [
        pytest.param(
            _with(duration=1).replace(b'"duration": 1', b'"duration": 1e400'), "invalid_number", id="1e400"
        ),
        pytest.param(
            _with(duration=1).replace(b'"duration": 1', b'"duration": Infinity'), "invalid_number", id="inf"
        ),
        pytest.param(
            json.dumps({**GOOD, "segments": [{**GOOD["segments"][1], "end": float("nan")}]}).encode(),
            "invalid_number",
            id="nan",
        ),
        pytest.param(_raw_segment_text(b"\\ud800"), "invalid_unicode", id="escaped-surrogate"),
        pytest.param(_raw_segment_text(b"\xed\xb0\x80"), "invalid_unicode", id="raw-surrogate"),
        pytest.param(_raw_segment_text(b"\xff"), None, id="not-utf8"),
        pytest.param(
            json.dumps(
                {
                    **GOOD,
                    "segments": [
                        {**GOOD["segments"][0], "words": [{"word": "\ud800", "start": 0, "end": 1}]}
                    ],
                }
            ).encode(),
            "invalid_unicode",
            id="word-surrogate",
        ),
        pytest.param(_with(duration=1e9), None, id="duration-beyond-max-audio"),
        pytest.param(_with(duration=2, segments=_segments(51)), None, id="absurd-segment-count"),
        pytest.param(_with(duration=2, segments=_segments(1, words=51)), None, id="absurd-word-count"),
        pytest.param(
            _with(segments=[{"id": 0, "start": -1, "end": 1, "text": ""}]), None, id="negative-time"
        ),
        pytest.param(_with(response_format="docx"), None, id="unknown-format"),
        pytest.param(b"[" * 100_000, None, id="deep-nesting"),
    ],
)
def test_bad_bodies_are_400(live: LiveServer, body: bytes, code: str | None) -> None:
    _assert_error(_post(live, body), 400, code)


def test_rendering_runs_off_the_event_loop_in_an_upload_slot(
    live: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A render held at a gate: the loop still answers /health, and the render is in a thread with no loop."""
    entered, gate = threading.Event(), threading.Event()
    seen: dict[str, Any] = {}

    def gated(*args: Any, **kwargs: Any) -> Body:
        try:
            asyncio.get_running_loop()
            seen["loop"] = True
        except RuntimeError:
            seen["loop"] = False
        seen["uploads"] = live.state.uploads.count
        entered.set()
        assert gate.wait(HANG_GUARD_SECONDS), "the test never let the render go on"
        return render(*args, **kwargs)

    monkeypatch.setattr("gigaam_api.web.downloads.render", gated)
    result: list[httpx.Response] = []
    poster = threading.Thread(target=lambda: result.append(_post(live, json.dumps(GOOD).encode())))
    poster.start()
    try:
        assert entered.wait(HANG_GUARD_SECONDS), "the render never started"
        health = httpx.get(live.url + "/health", timeout=20)  # old code: the loop waits for the gate
        assert health.status_code == 200
    finally:
        gate.set()
        poster.join(HANG_GUARD_SECONDS)
    assert seen == {"loop": False, "uploads": 1}
    assert result[0].status_code == 200, result[0].text
    assert live.state.uploads.count == 0


def test_a_render_upload_counts_its_bytes_so_a_newcomer_does_not_take_its_slot(
    make_server: Callable[..., LiveServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With every upload slot taken, a newcomer takes only a slow upload's slot: a render sending fast
    must not look like one (it counted no bytes, so its rate was 0 and it was the first cut)."""
    monkeypatch.setattr("gigaam_api.api.admission.JUDGED_AFTER_SECONDS", 0.0)
    live = make_server(MAX_UPLOADS=1, WEB_RENDER_MAX_MB=LIMIT_MB, UPLOAD_BUSY_MIN_BYTES_PER_SECOND=4096)
    body = json.dumps({**GOOD, "pad": "x" * 600_000}).encode()
    sent = 500_000  # at 4 KiB/s (UPLOAD_BUSY_MIN_BYTES_PER_SECOND) that is 2 minutes of allowance
    with RawConnection(live.url) as render_conn:
        render_conn.send_head(
            "POST", "/web/render", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        )
        render_conn.send_body(body[:sent], end=False)
        wait_until(lambda: live.state.uploads.stored_bytes >= sent, "the render's bytes are counted")
        with httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2"), timeout=60) as other:
            newcomer = other.post(
                live.url + "/web/render",
                content=json.dumps(GOOD).encode(),
                headers={"Content-Type": "application/json"},
            )
        _assert_error(newcomer, 503, "too_many_uploads")
        render_conn.send_body(body[sent:])
        response = render_conn.response()
    assert response.status == 200, response.json()
    assert live.state.uploads.count == 0


def test_the_download_names_the_language_only_when_the_engines_leave_no_doubt(
    live: LiveServer, echo_family: None, make_server: Callable[..., LiveServer]
) -> None:
    """The stream does not name the language; a server whose engine transcribes several used to label
    the page's downloads with the alphabetically first of the default model's (Qwen3-ASR: "arabic")."""
    verbose = json.dumps({**GOOD, "response_format": "verbose_json"}).encode()
    russian_only = _post(live, verbose)
    assert russian_only.json()["language"] == "russian"
    several = make_server(API_KEY=KEY, MODEL="echo-1")  # declares en, ja, ru
    assert _post(several, verbose).json()["language"] == "unknown"
