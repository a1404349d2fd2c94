"""Open WebUI's "json" request format: the same answers, limits and errors as multipart (the app
in-process; a real socket where the upload limits cut a body off).

Open WebUI (AUDIO_STT_OPENAI_API_REQUEST_FORMAT=json) posts `Content-Type: application/json` with
`{"model", "language", "input_audio": {"data": <base64>, "format": <ext>}}`; the body is built here
exactly so, and compared with the multipart request for the same recording.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.fixtures.app_server import AppServer
from tests.fixtures.live_server import LiveServer, start_server
from tests.fixtures.raw_http import RawConnection, RawResponse

ENDPOINT = "/v1/audio/transcriptions"
LIMIT_MB = 0.1


@pytest.fixture(scope="module")
def small_limit_server(settings_factory: Callable[..., Any]) -> Iterator[LiveServer]:
    live = start_server(settings_factory(MAX_UPLOAD_MB=LIMIT_MB))
    yield live
    live.stop()


def _open_webui_body(path: Path, **fields: object) -> dict[str, object]:
    audio = {"data": base64.b64encode(path.read_bytes()).decode(), "format": path.suffix.lstrip(".")}
    return {"model": "whisper-1", "language": "ru", "input_audio": audio, **fields}


def _multipart(server: AppServer, path: Path, **fields: str) -> httpx2.Response:
    data = {"model": "whisper-1", "language": "ru", **fields}
    return server.http.post(ENDPOINT, data=data, files={"file": (path.name, path.read_bytes())})


def _assert_error(
    response: httpx2.Response | RawResponse, status: int, param: str | None, words: str
) -> None:
    code = response.status_code if isinstance(response, httpx2.Response) else response.status
    assert code == status, response
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["param"] == param and words in error["message"], error
    assert not any(leak in error["message"] for leak in ("Traceback", ".py", ".upload", "gigaam-"))


@pytest.mark.parametrize("name", ["greeting.mp3", "weather.wav", "greeting.ogg"])
def test_the_open_webui_json_body_gets_the_multipart_answer(
    app_server: AppServer, audio_dir: Path, name: str
) -> None:
    path = audio_dir / name
    response = app_server.http.post(ENDPOINT, json=_open_webui_body(path))
    assert response.status_code == 200, response.text
    assert response.json() == _multipart(app_server, path).json()
    assert list(app_server.state.spool.path.iterdir()) == []


@pytest.mark.parametrize(
    ("fields", "form"),
    [
        (
            {"response_format": "verbose_json", "timestamp_granularities": ["segment"]},
            {
                "response_format": "verbose_json",
                "timestamp_granularities[]": "segment",
            },
        ),
        ({"response_format": "srt"}, {"response_format": "srt"}),
        ({"response_format": "text", "temperature": 0}, {"response_format": "text", "temperature": "0"}),
    ],
)
def test_other_fields_mean_what_they_mean_in_a_form(
    app_server: AppServer, audio_dir: Path, fields: dict[str, object], form: dict[str, str]
) -> None:
    path = audio_dir / "greeting.wav"
    response = app_server.http.post(ENDPOINT, json=_open_webui_body(path, **fields))
    expected = _multipart(app_server, path, **form)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == expected.headers["content-type"]
    assert response.text == expected.text


def test_streaming_works_from_a_json_body(app_server: AppServer, audio_dir: Path) -> None:
    body = _open_webui_body(audio_dir / "weather.wav", stream=True)
    response = app_server.http.post(ENDPOINT, json=body)
    events = [json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: ")]
    assert response.headers["content-type"].startswith("text/event-stream")
    assert events[-1]["type"] == "transcript.text.done" and events[-1]["text"]


@pytest.mark.parametrize(
    ("mutate", "param", "words"),
    [
        (lambda b: b.pop("input_audio"), "input_audio", "No audio"),
        (lambda b: b.update(input_audio="UklGRg=="), "input_audio", "must be an object"),
        (lambda b: b["input_audio"].update(data="not base64!"), "input_audio", "not valid base64"),
        (lambda b: b["input_audio"].update(data=None), "input_audio", "base64 string"),
        (lambda b: b.update(model=["whisper-1"]), "model", "must be a string"),
        (lambda b: b.update(response_format="yaml"), "response_format", "Invalid response_format"),
        (lambda b: b.update(language="klingon"), "language", "Invalid language"),
    ],
)
def test_bad_json_bodies_are_400_in_openai_s_envelope(
    app_server: AppServer, audio_dir: Path, mutate: Callable[[dict[str, Any]], object], param: str, words: str
) -> None:
    body = _open_webui_body(audio_dir / "greeting.wav")
    mutate(body)
    _assert_error(app_server.http.post(ENDPOINT, json=body), 400, param, words)
    assert list(app_server.state.spool.path.iterdir()) == []


def test_malformed_json_is_400(app_server: AppServer) -> None:
    response = app_server.http.post(
        ENDPOINT,
        content=b'{"input_audio": {"data": "UklG',
        headers={"Content-Type": "application/json"},
    )
    _assert_error(response, 400, None, "malformed")


def test_neither_multipart_nor_json_is_400_naming_both(app_server: AppServer) -> None:
    response = app_server.http.post(ENDPOINT, content=b"x", headers={"Content-Type": "text/plain"})
    _assert_error(response, 400, None, "application/json")


def test_declared_length_over_the_limit_is_413_before_the_body(small_limit_server: LiveServer) -> None:
    with RawConnection(small_limit_server.url) as conn:
        conn.send_head(
            "POST",
            ENDPOINT,
            [
                ("Content-Type", "application/json"),
                ("Content-Length", str(10 * 1024**2)),
                ("Expect", "100-continue"),
            ],
        )
        response = conn.response()
        _assert_error(response, 413, "file", "Content-Length")
        assert response.informational == [] and response.closes


def test_audio_past_the_limit_is_cut_off_while_it_streams(small_limit_server: LiveServer) -> None:
    """A chunked JSON body of 64 MiB base64 and no declared length: the 413 comes long before its end."""
    total, chunk = 64 * 1024 * 1024, 64 * 1024
    head = b'{"model": "whisper-1", "input_audio": {"format": "wav", "data": "'
    with RawConnection(small_limit_server.url) as conn:
        conn.send_head(
            "POST", ENDPOINT, [("Content-Type", "application/json"), ("Transfer-Encoding", "chunked")]
        )
        sent = conn.send_chunked_until_answered(head, b"A" * chunk, total)
        response = conn.response()
    _assert_error(response, 413, "input_audio", "MAX_UPLOAD_MB")
    assert response.json()["error"]["code"] == "file_too_large"
    assert sent < total // 4, f"{sent} of {total} bytes sent before the 413"
    assert list(small_limit_server.state.spool.path.iterdir()) == []
