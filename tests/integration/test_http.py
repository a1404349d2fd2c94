"""Raw HTTP: what the official client hides (bodies, content types, headers, SSE framing, errors).

The app is served in-process (tests/fixtures/app_server.py): nothing here depends on a socket."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx2
import numpy as np
import pytest

from tests.fixtures import speech
from tests.fixtures.app_server import AppServer


def _post(
    server: AppServer, data: list[tuple[str, str]] | dict[str, str], content: bytes, **kw: object
) -> httpx2.Response:
    """Fields first, the file part last, as some clients send it; repeated field names allowed."""
    pairs = list(data.items()) if isinstance(data, dict) else data
    parts: list[tuple[str, tuple[str | None, bytes | str] | tuple[str, bytes, str]]] = [
        (name, (None, value)) for name, value in pairs
    ]
    parts.append(("file", ("upload", content, "application/octet-stream")))
    return server.http.post("/v1/audio/transcriptions", files=parts, **kw)  # type: ignore[arg-type]


def _error(response: httpx2.Response) -> dict[str, object]:
    body = response.json()
    assert set(body) == {"error"}
    err: dict[str, object] = body["error"]
    assert set(err) == {"message", "type", "param", "code"}
    return err


def test_plain_text_bodies(app_server: AppServer, audio_dir: Path) -> None:
    wav = (audio_dir / "greeting.wav").read_bytes()
    text = _post(app_server, {"model": "whisper-1", "response_format": "text"}, wav)
    assert text.status_code == 200
    assert text.headers["content-type"] == "text/plain; charset=utf-8"
    assert text.text.endswith("\n") and not text.text.startswith('"')
    srt = _post(app_server, {"response_format": "srt"}, wav)
    assert srt.headers["content-type"].startswith("text/plain")
    assert srt.text.splitlines()[1].count(" --> ") == 1
    vtt = _post(app_server, {"response_format": "vtt"}, wav)
    assert vtt.headers["content-type"].startswith("text/vtt")
    assert vtt.text.startswith("WEBVTT\n\n")


def test_request_id_on_every_response(app_server: AppServer) -> None:
    ok = app_server.http.get("/health")
    missing = app_server.http.get("/v1/nope")
    assert ok.headers["x-request-id"].startswith("req_")
    assert missing.headers["x-request-id"] != ok.headers["x-request-id"]


def test_404_and_405_use_the_error_envelope(app_server: AppServer) -> None:
    missing = app_server.http.get("/v1/nope")
    assert missing.status_code == 404 and _error(missing)["message"]
    wrong_method = app_server.http.get("/v1/audio/transcriptions")
    assert wrong_method.status_code == 405 and _error(wrong_method)["message"]


def test_model_ids_with_slashes(make_app_server: Callable[..., AppServer]) -> None:
    live = make_app_server(MODEL_ALIASES="whisper-1,openai/whisper-large-v3")
    assert live.http.get("/v1/models/openai/whisper-large-v3").json()["id"] == "openai/whisper-large-v3"
    assert live.http.get("/v1/models/openai%2Fwhisper-large-v3").json()["id"] == "openai/whisper-large-v3"


def test_form_encodings(app_server: AppServer, audio_dir: Path) -> None:
    """JSON-array strings, plain repeated names, `"false"` as false, unknown fields, file part last."""
    wav = (audio_dir / "greeting.wav").read_bytes()
    fields = [
        ("model", "whisper-1"),
        ("response_format", "verbose_json"),
        ("timestamp_granularities", '["word","segment"]'),
        ("stream", "false"),
        ("some_future_field", "whatever"),
    ]
    response = _post(app_server, fields, wav)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["words"] and body["segments"]
    repeated = [("response_format", "verbose_json"), ("timestamp_granularities", "word")]
    assert _post(app_server, repeated, wav).json()["words"]


def test_missing_file_is_400(app_server: AppServer) -> None:
    response = app_server.http.post(
        "/v1/audio/transcriptions", data={"model": "whisper-1"}, files={"x": ("a", b"1")}
    )
    assert response.status_code == 400
    assert _error(response)["param"] == "file"


@pytest.mark.parametrize("case", ["empty", "garbage", "truncated", "zero_samples", "video_only"])
def test_bad_audio_is_400_without_internals(
    app_server: AppServer, tmp_path: Path, audio_dir: Path, case: str
) -> None:
    path = tmp_path / "bad"
    if case == "empty":
        speech.empty(path)
    elif case == "garbage":
        speech.garbage(path)
    elif case == "truncated":
        speech.truncated(audio_dir / "greeting.m4a", path, 0.3)
    elif case == "zero_samples":
        speech.zero_sample_wav(path)
    else:
        speech.video_only_mp4(path)
    response = _post(app_server, {"model": "whisper-1"}, path.read_bytes())
    assert response.status_code == 400, response.text
    err = _error(response)
    assert err["type"] == "invalid_request_error"
    message = str(err["message"])
    assert "Traceback" not in message and "/" not in message.replace("/v1", "")
    assert list(app_server.state.spool.path.iterdir()) == []


def test_too_long_audio_is_400(make_app_server: Callable[..., AppServer], audio_dir: Path) -> None:
    live = make_app_server(MAX_AUDIO_SECONDS=2)
    response = _post(live, {"model": "whisper-1"}, (audio_dir / "greeting.wav").read_bytes())
    assert response.status_code == 400
    assert "2" in str(_error(response)["message"])


def test_sse_framing(app_server: AppServer, audio_dir: Path) -> None:
    response = _post(
        app_server,
        {"model": "whisper-1", "stream": "true"},
        (audio_dir / "greeting.wav").read_bytes(),
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    raw = response.text
    assert raw.endswith("\n\n")
    blocks = [b for b in raw.split("\n\n") if b]
    for block in blocks:
        assert block.startswith(("data: ", ": ")), block
        assert "\n" not in block
    events = [json.loads(b.removeprefix("data: ")) for b in blocks if b.startswith("data: ")]
    assert events[-1]["type"] == "transcript.text.done"
    assert "".join(e["delta"] for e in events if e["type"] == "transcript.text.delta") == events[-1]["text"]
    assert any(e["type"] == "transcript.text.segment" for e in events)


def test_stream_error_before_headers_is_plain_4xx(app_server: AppServer) -> None:
    response = _post(app_server, {"model": "whisper-1", "stream": "true"}, b"not audio at all" * 10)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/json")


def test_http_layer_imports_no_inference_library() -> None:
    code = (
        "import sys, gigaam_api.app, gigaam_api.api.transcriptions;"
        "heavy = [m for m in ('onnxruntime', 'onnx_asr', 'numpy', 'av', 'damga') if m in sys.modules];"
        "print(heavy); sys.exit(1 if heavy else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("stream", ["false", "true"])
@pytest.mark.parametrize("samples", [1, 160, 319])
def test_audio_shorter_than_the_analysis_window_is_silence(
    app_server: AppServer, tmp_path: Path, samples: int, stream: str
) -> None:

    tone = 0.5 * np.sin(np.arange(samples) / 3)
    wav = speech.write_wav(tmp_path / "short.wav", tone.astype(np.float32)).read_bytes()

    response = _post(app_server, {"response_format": "verbose_json", "stream": stream}, wav)

    assert response.status_code == 200
    if stream == "true":
        events = [json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: ")]
        assert [e["type"] for e in events] == ["transcript.text.done"]
        assert events[0]["text"] == ""
    else:
        body = response.json()
        assert body["text"] == ""
        assert body["segments"] == []
        assert body["duration"] == pytest.approx(samples / 16000, abs=1e-3)


def _scrape(server: AppServer) -> dict[str, float]:
    """Every sample of /metrics as `name{labels}` → value."""
    response = server.http.get("/metrics", headers={"Authorization": "Bearer test-key"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    samples = {}
    for line in response.text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


def test_metrics_move_with_real_requests(app_server: AppServer, audio_dir: Path) -> None:
    before = _scrape(app_server)
    wav = (audio_dir / "greeting.wav").read_bytes()

    ok = _post(app_server, {"response_format": "verbose_json"}, wav)
    bad = _post(app_server, {"response_format": "nonsense"}, wav)
    after = _scrape(app_server)

    def delta(name: str) -> float:
        return after.get(name, 0.0) - before.get(name, 0.0)

    assert ok.status_code == 200 and bad.status_code == 400
    route = 'route="/v1/audio/transcriptions"'
    assert delta(f'gigaam_http_requests_total{{{route},status="200"}}') == 1
    assert delta(f'gigaam_http_requests_total{{{route},status="400"}}') == 1
    assert (
        delta('gigaam_http_errors_total{code="invalid_request_error"}') == 1
    )  # the envelope's type: no code
    assert delta("gigaam_audio_seconds_total") == pytest.approx(ok.json()["duration"], abs=0.01)
    assert delta("gigaam_processing_seconds_total") > 0
    assert delta('gigaam_batch_seconds_count{engine="gigaam-v3-ctc"}') >= 1
    assert delta("gigaam_queue_wait_seconds_count") == 1
    assert after['gigaam_model_loaded{model="gigaam-v3-ctc"}'] == 1
    assert after["gigaam_spool_bytes"] == 0
    assert after["gigaam_queue_length"] == 0
