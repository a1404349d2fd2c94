"""Text that is not Unicode (lone surrogates) in any field of an upload: a 400, never a 500.

JSON is the only way such text gets in (`\\ud800` escapes, or raw surrogate bytes, which Python's
`json` passes through); multipart fields are decoded with replacement characters.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from gigaam_api.config import Settings
from tests.fixtures.app_server import AppServer, serve_app
from tests.fixtures.raw_http import field_part, file_part, multipart

ROUTES = ("/v1/audio/transcriptions", "/v1/jobs")


def _body(audio: Path, **fields: Any) -> dict[str, Any]:
    data = base64.b64encode(audio.read_bytes()).decode()
    return {"model": "whisper-1", "input_audio": {"data": data, "format": "wav"}, **fields}


def _post_json(live: AppServer, route: str, content: bytes) -> httpx2.Response:
    return live.http.post(route, content=content, headers={"Content-Type": "application/json"})


@pytest.fixture(scope="module")
def live(settings_factory: Callable[..., Settings]) -> Iterator[AppServer]:
    with serve_app(settings_factory(JOBS_WORKERS=0)) as served:  # jobs are stored, never run
        yield served


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"model": "whisper\ud800"}, "model"),
        ({"prompt": "привет \udfff"}, "prompt"),
        ({"x_unknown": "a\ud83d"}, "x_unknown"),
        ({"x\udc00": "value"}, None),  # a bad key is reported at its object
        ({"include": ["logprobs", "\ud800"]}, "include.1"),
    ],
)
def test_lone_surrogates_in_a_json_body_are_400(
    live: AppServer, audio_dir: Path, route: str, fields: dict[str, Any], param: str | None
) -> None:
    content = json.dumps(_body(audio_dir / "weather.wav", **fields)).encode()  # ASCII: `\ud800` escapes
    jobs = live.http.get("/v1/jobs").json()["data"]
    response = _post_json(live, route, content)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_unicode" and error["param"] == param, error
    assert list(live.state.spool.path.iterdir()) == []
    assert live.http.get("/v1/jobs").json()["data"] == jobs  # none stored


@pytest.mark.parametrize("route", ROUTES)
def test_raw_surrogate_bytes_in_a_json_body_are_400(live: AppServer, audio_dir: Path, route: str) -> None:
    content = json.dumps(_body(audio_dir / "weather.wav", prompt="PROMPT")).encode()
    response = _post_json(live, route, content.replace(b"PROMPT", b"\xed\xa0\x80"))
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_unicode"


def test_input_audio_format_is_checked_too(live: AppServer, audio_dir: Path) -> None:
    body = _body(audio_dir / "weather.wav")
    body["input_audio"]["format"] = "wav\ud800"
    response = _post_json(live, ROUTES[0], json.dumps(body).encode())
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == "input_audio.format"


@pytest.mark.parametrize("route", ROUTES)
def test_surrogate_bytes_in_a_form_field_are_replaced_not_a_500(
    live: AppServer, audio_dir: Path, route: str
) -> None:
    boundary = b"surrogate-boundary"
    parts = [
        file_part((audio_dir / "weather.wav").read_bytes()),
        field_part("prompt", b"\xed\xa0\x80"),
        field_part("x_unknown", b"\xed\xb0\x80"),
    ]
    response = live.http.post(
        route,
        content=multipart(parts, boundary),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary.decode()}"},
    )
    assert response.status_code in (200, 202), response.text
