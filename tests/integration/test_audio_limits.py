"""Hostile audio against a real server: forged headers, tiny uploads that expand enormously, a full
spool, and two instances sharing one SPOOL_DIR. Each refusal is in OpenAI's envelope and leaves no file."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import httpx
import pytest

from gigaam_api.app import build_transcriber
from gigaam_api.config import Settings
from gigaam_api.engines.base import ASREngine
from tests.fixtures.engines import WatchedEngine
from tests.fixtures.live_server import LiveServer, start_server
from tests.fixtures.speech import forged_wav, silent_flac

ENDPOINT = "/v1/audio/transcriptions"


def _post(live: LiveServer, content: bytes, **fields: str) -> httpx.Response:
    files = {"file": ("upload.wav", content, "application/octet-stream")}
    return httpx.post(live.url + ENDPOINT, data=fields, files=files, timeout=120)


def _error(response: httpx.Response) -> dict[str, object]:
    body = response.json()
    assert set(body) == {"error"}
    error: dict[str, object] = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return error


def _assert_spool_empty(live: LiveServer) -> None:
    assert list(live.state.spool.path.iterdir()) == []
    assert live.state.spool.used_bytes == 0


@pytest.fixture(scope="module")
def three_hours_of_silence(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return silent_flac(tmp_path_factory.mktemp("flac") / "silence.flac", hours=3).read_bytes()


@pytest.mark.parametrize(
    ("rate", "channels"),
    [(0x7FFFFFFF, 1), (16_000, 255), (1, 1)],
    ids=["rate-2^31-1", "255-channels", "1-Hz"],
)
@pytest.mark.parametrize("stream", ["false", "true"])
def test_forged_wav_headers_are_400(
    server: LiveServer, tmp_path: Path, rate: int, channels: int, stream: str
) -> None:
    wav = forged_wav(tmp_path / "forged.wav", rate=rate, channels=channels, data_bytes=40_000).read_bytes()

    response = _post(server, wav, stream=stream)

    assert response.status_code == 400, response.text
    error = _error(response)
    assert error["param"] == "file" and error["type"] == "invalid_request_error"
    assert str(error["message"]).startswith("The audio could not be converted to 16 kHz mono")
    _assert_spool_empty(server)


def test_hours_of_silence_in_a_tiny_flac_fail_fast(server: LiveServer, three_hours_of_silence: bytes) -> None:
    response = _post(server, three_hours_of_silence)

    assert response.status_code == 400, response.text
    error = _error(response)
    assert error["param"] == "file"
    assert "The audio is silent: its first 600 seconds hold no sound" in str(error["message"])
    _assert_spool_empty(server)


def test_hours_of_silence_while_streaming_end_in_an_error_event(
    server: LiveServer, three_hours_of_silence: bytes
) -> None:
    # Past the first 25 s the stream has started, so the refusal arrives as its last event.
    response = _post(server, three_hours_of_silence, stream="true")

    assert response.status_code == 200
    events = [json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: ")]
    assert "MAX_LEADING_SILENCE_SECONDS" in events[-1]["error"]["message"]
    _assert_spool_empty(server)


def test_silence_past_the_decode_budget_stops_at_the_budget(
    make_server: Callable[..., LiveServer], three_hours_of_silence: bytes
) -> None:
    live = make_server(MAX_LEADING_SILENCE_SECONDS=0)  # no silence limit: the PCM budget stops it

    response = _post(live, three_hours_of_silence)

    assert response.status_code == 400, response.text
    assert "decodes to more than 64 MB of 16 kHz audio" in str(_error(response)["message"])
    _assert_spool_empty(live)


@pytest.mark.parametrize("stream", ["false", "true"])
def test_a_declared_duration_past_the_limit_is_400_before_any_decoding(
    make_server: Callable[..., LiveServer], three_hours_of_silence: bytes, stream: str
) -> None:
    live = make_server(MAX_AUDIO_SECONDS=3600)  # the FLAC's header declares 3 h

    response = _post(live, three_hours_of_silence, stream=stream)

    # Refused from the header, before a single sample: even a stream gets a plain 400, not an event.
    assert response.status_code == 400, response.text
    error = _error(response)
    assert error["message"] == (
        "Audio is longer than the limit of 3600 seconds (the file declares 11010 s)."  # whole FLAC blocks
    ), error
    assert live.state.spool.used_bytes == 0
    _assert_spool_empty(live)


def test_a_full_spool_is_503_with_retry_after(make_server: Callable[..., LiveServer], tmp_path: Path) -> None:
    live = make_server(SPOOL_MAX_MB=0.25)  # 8 s of 16 kHz PCM
    ten_seconds = forged_wav(
        tmp_path / "speech.wav", rate=16_000, channels=1, data_bytes=320_000
    ).read_bytes()

    for stream in ("false", "true"):
        response = _post(live, ten_seconds, stream=stream)
        assert response.status_code == 503, response.text
        assert int(response.headers["retry-after"]) > 0
        error = _error(response)
        assert error["code"] == "spool_full" and error["type"] == "server_error"
        assert "SPOOL_MAX_MB" in str(error["message"])
        _assert_spool_empty(live)
    health = httpx.get(live.url + "/health").json()
    assert health["spool_bytes"] == 0 and health["spool_max_bytes"] == 256 * 1024


@pytest.fixture
def gated_server(
    settings_factory: Callable[..., Settings], tmp_path: Path
) -> Iterator[Callable[..., LiveServer]]:
    started: list[LiveServer] = []

    def start(spool_dir: Path, engines: list[WatchedEngine]) -> LiveServer:
        def gated(engine: ASREngine) -> ASREngine:
            engines.append(WatchedEngine(engine, gated=True))
            return engines[-1]

        settings = settings_factory(SPOOL_DIR=spool_dir)
        live = start_server(settings, factory=partial(build_transcriber, wrap_engine=gated))
        started.append(live)
        return live

    yield start
    for live in started:
        live.stop()


def test_a_starting_instance_leaves_a_running_ones_files_alone(
    gated_server: Callable[..., LiveServer], tmp_path: Path
) -> None:
    shared = tmp_path / "shared-spool"
    first_engines: list[WatchedEngine] = []
    first = gated_server(shared, first_engines)
    wav = forged_wav(tmp_path / "speech.wav", rate=16_000, channels=1, data_bytes=64_000).read_bytes()
    with httpx.Client(timeout=60) as http:
        files = {"file": ("a.wav", wav, "audio/wav")}
        with http.stream("POST", first.url + ENDPOINT, data={"stream": "true"}, files=files) as stream:
            assert stream.status_code == 200  # decoded; its batch now waits at the gate
            in_flight = sorted(p.name for p in first.state.spool.path.iterdir())
            assert len(in_flight) == 2  # the upload and its PCM

            second = gated_server(shared, [])  # removes what dead instances left, at start-up

            assert second.state.spool.path != first.state.spool.path
            assert sorted(p.name for p in first.state.spool.path.iterdir()) == in_flight
            first_engines[0].gate.set()
            events = [json.loads(line[6:]) for line in stream.iter_lines() if line.startswith("data: ")]
    assert events[-1]["type"] == "transcript.text.done"
    _assert_spool_empty(first)
