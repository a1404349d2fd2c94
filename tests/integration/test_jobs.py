"""/v1/jobs with the embedded SQLite store: results, events, isolation, expiry, webhooks.

Plain request/response checks run on the app in this process (`tests.fixtures.app_server`); webhooks,
URL downloads and a server that stops use a real server on a socket."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from gigaam_api.app import build_transcriber
from gigaam_api.config import Settings
from gigaam_api.engines.base import ASREngine
from gigaam_api.jobs.sqlite_store import SqliteJobStore
from gigaam_api.jobs.webhooks import SIGNATURE_HEADER, verify
from tests.fixtures.app_server import AppServer, serve_app
from tests.fixtures.engines import WatchedEngine
from tests.fixtures.jobs import (
    Response,
    Target,
    get_job,
    job_events,
    request,
    submit,
    wait_finished,
    wait_for_job,
)
from tests.fixtures.live_server import LiveServer, start_server
from tests.fixtures.speech import PAUSES, SENTENCES, long_speech, write_wav
from tests.fixtures.waiting import wait_until

FORMATS = ("json", "text", "srt", "vtt", "verbose_json")
SECRET = "test-webhook-secret"


@pytest.fixture(scope="module")
def several_segments(tmp_path_factory: pytest.TempPathFactory) -> Path:
    audio, _ = long_speech(SENTENCES[:4], PAUSES[:3])
    path = tmp_path_factory.mktemp("jobs") / "four.wav"
    write_wav(path, audio)
    return path


def _sync(to: Target, audio: Path, **fields: Any) -> Response:
    with audio.open("rb") as f:
        return request(to, "POST", "/v1/audio/transcriptions", files={"file": (audio.name, f)}, data=fields)


def test_result_in_every_format_equals_the_synchronous_route(
    make_app_server: Callable[..., AppServer], audio_dir: Path
) -> None:
    served = make_app_server()
    audio = audio_dir / "greeting.mp3"
    job = submit(served.http, audio, response_format="verbose_json", **{"timestamp_granularities[]": "word"})
    assert job["status"] == "queued"
    assert wait_finished(served.http, job["id"])["status"] == "succeeded"
    for fmt in FORMATS:
        result = served.http.get(f"/v1/jobs/{job['id']}/result", params={"response_format": fmt})
        expected = _sync(served.http, audio, response_format=fmt)
        assert result.status_code == 200
        assert result.content == expected.content, fmt
        assert result.headers["content-type"] == expected.headers["content-type"]
    # Without a format given, the job's own options: verbose_json with words.
    own = served.http.get(f"/v1/jobs/{job['id']}/result").json()
    assert own["words"] and "segments" not in own
    done = get_job(served.http, job["id"])
    assert done["progress"]["processed_seconds"] == done["progress"]["total_seconds"] > 0
    assert done["runs"] == 1 and done["language"] == "ru"


def test_events_resume_after_last_event_id(
    make_app_server: Callable[..., AppServer], several_segments: Path
) -> None:
    served = make_app_server(DIRECT_MAX_SECONDS=1, VAD_MIN=1, VAD_MAX=4)
    job = submit(served.http, several_segments)
    assert wait_finished(served.http, job["id"])["status"] == "succeeded"
    full = job_events(served.http, job["id"])
    segments = [p for _, p in full if p["type"] == "transcript.text.segment"]
    assert len(segments) >= 3
    assert full[-1][1]["type"] == "transcript.text.done"
    assert "".join(p["delta"] for _, p in full if p["type"] == "transcript.text.delta") == full[-1][1]["text"]
    ids = [event_id for event_id, _ in full[:-1]]
    assert ids == [str(n) for n in range(1, len(ids) + 1)]
    for seen in range(1, len(ids) + 1):
        assert job_events(served.http, job["id"], str(seen)) == full[seen:]


def test_events_follow_a_running_job_to_its_end(
    make_app_server: Callable[..., AppServer], several_segments: Path
) -> None:
    served = make_app_server(DIRECT_MAX_SECONDS=1, VAD_MIN=1, VAD_MAX=4)
    job = submit(served.http, several_segments)
    streamed = job_events(served.http, job["id"])  # opened at once: the job is queued or running
    assert streamed[-1][1]["type"] == "transcript.text.done"
    assert streamed == job_events(served.http, job["id"])


def test_a_key_sees_only_its_own_jobs(make_app_server: Callable[..., AppServer], audio_dir: Path) -> None:
    served = make_app_server(API_KEY="key-a,key-b", JOBS_WORKERS=0)
    job = submit(served.http, audio_dir / "weather.wav", key="key-a")
    as_b = {"Authorization": "Bearer key-b"}
    as_a = {"Authorization": "Bearer key-a"}
    for method, path in (
        ("GET", ""),
        ("GET", "/result"),
        ("GET", "/events"),
        ("POST", "/cancel"),
        ("DELETE", ""),
    ):
        response = served.http.request(method, f"/v1/jobs/{job['id']}{path}", headers=as_b)
        assert response.status_code == 404, (method, path)
        assert response.json()["error"]["code"] == "job_not_found"
    assert served.http.get("/v1/jobs", headers=as_b).json()["data"] == []
    assert [j["id"] for j in served.http.get("/v1/jobs", headers=as_a).json()["data"]] == [job["id"]]
    assert served.http.get(f"/v1/jobs/{job['id']}").status_code == 401


def test_list_is_paginated_and_filtered(make_app_server: Callable[..., AppServer], audio_dir: Path) -> None:
    served = make_app_server(JOBS_WORKERS=0)  # nothing runs: every job stays queued
    ids = [submit(served.http, audio_dir / "weather.wav")["id"] for _ in range(3)]
    first = served.http.get("/v1/jobs", params={"limit": 2}).json()
    assert [j["id"] for j in first["data"]] == ids[::-1][:2]
    assert first["has_more"] is True and first["last_id"] == ids[1]
    rest = served.http.get("/v1/jobs", params={"limit": 2, "after": first["last_id"]}).json()
    assert [j["id"] for j in rest["data"]] == [ids[0]] and rest["has_more"] is False
    assert len(served.http.get("/v1/jobs", params={"status": "queued"}).json()["data"]) == 3
    assert served.http.get("/v1/jobs", params={"status": "succeeded"}).json()["data"] == []
    assert served.http.get("/v1/jobs", params={"status": "bogus"}).status_code == 400
    metrics = served.http.get("/metrics").text
    assert 'gigaam_jobs{status="queued"} 3.0' in metrics
    assert "gigaam_jobs_disk_bytes" in metrics


def test_cancel_and_delete(make_app_server: Callable[..., AppServer], audio_dir: Path) -> None:
    served = make_app_server(JOBS_WORKERS=0)
    job = submit(served.http, audio_dir / "weather.wav")
    cancelled = served.http.post(f"/v1/jobs/{job['id']}/cancel").json()
    assert cancelled["status"] == "cancelled"
    result = served.http.get(f"/v1/jobs/{job['id']}/result")
    assert result.status_code == 409 and result.json()["error"]["code"] == "job_cancelled"
    audio = served.app.state.jobs.audio.path(job["id"])
    assert audio.exists()
    deleted = served.http.delete(f"/v1/jobs/{job['id']}").json()
    assert deleted == {"id": job["id"], "object": "transcription.job.deleted", "deleted": True}
    assert served.http.get(f"/v1/jobs/{job['id']}").status_code == 404
    assert not audio.exists()


def test_cancelling_a_running_job_stops_it_and_frees_the_worker(
    settings_factory: Callable[..., Settings], audio_dir: Path, tmp_path: Path
) -> None:
    engines: list[WatchedEngine] = []

    def gated(engine: ASREngine) -> ASREngine:
        engines.append(WatchedEngine(engine, gated=True))
        return engines[-1]

    settings = settings_factory(JOBS_DIR=tmp_path, JOBS_WORKERS=1, JOBS_LEASE_SECONDS=0.3)
    with serve_app(settings, factory=partial(build_transcriber, wrap_engine=gated)) as served:
        job = submit(served.http, audio_dir / "weather.wav")
        wait_until(engines[0].started.is_set, "the job's batch reaches the engine")
        assert served.http.post(f"/v1/jobs/{job['id']}/cancel").json()["status"] == "cancelled"
        engines[0].gate.set()
        after = submit(served.http, audio_dir / "greeting.wav")  # the single worker is free again
        assert wait_finished(served.http, after["id"])["status"] == "succeeded"
        stopped = get_job(served.http, job["id"])
        assert stopped["status"] == "cancelled" and stopped["progress"]["segments"] == 0


def test_audio_and_results_expire(
    make_app_server: Callable[..., AppServer], audio_dir: Path, tmp_path: Path
) -> None:
    served = make_app_server(JOBS_DIR=tmp_path / "a", JOBS_AUDIO_TTL_SECONDS=0, JOBS_SWEEP_SECONDS=0.05)
    job = submit(served.http, audio_dir / "weather.wav")
    assert wait_finished(served.http, job["id"])["status"] == "succeeded"
    audio = served.app.state.jobs.audio.path(job["id"])
    wait_until(lambda: not audio.exists(), "the finished job's audio is removed")
    assert served.http.get(f"/v1/jobs/{job['id']}/result").status_code == 200  # results stay

    short = make_app_server(JOBS_DIR=tmp_path / "b", JOBS_RESULT_TTL_SECONDS=0.2, JOBS_SWEEP_SECONDS=0.05)
    job = submit(short.http, audio_dir / "weather.wav")
    wait_until(
        lambda: short.http.get(f"/v1/jobs/{job['id']}").status_code == 404, "the expired job is removed"
    )
    assert not short.app.state.jobs.audio.path(job["id"]).exists()
    assert short.app.state.jobs.store.backend.segments(job["id"]) == []
    assert 'gigaam_jobs{status="succeeded"} 0.0' in short.http.get("/metrics").text


def test_refusals(make_app_server: Callable[..., AppServer], audio_dir: Path) -> None:
    served = make_app_server()
    no_audio = served.http.post("/v1/jobs", files={"model": (None, "gigaam-v3-ctc")})
    assert no_audio.status_code == 400 and no_audio.json()["error"]["param"] == "file"
    with (audio_dir / "weather.wav").open("rb") as f:
        hook = served.http.post(
            "/v1/jobs", files={"file": ("a.wav", f)}, data={"callback_url": "http://127.0.0.1:9/x"}
        )
    assert hook.status_code == 400 and "JOBS_WEBHOOK_HOSTS" in hook.json()["error"]["message"]
    url = served.http.post("/v1/jobs", files={"url": (None, "http://127.0.0.1:9/a.wav")})
    assert url.status_code == 400 and "JOBS_URL_HOSTS" in url.json()["error"]["message"]
    with (audio_dir / "weather.wav").open("rb") as f:
        bad = served.http.post("/v1/jobs", files={"file": ("a.wav", f)}, data={"response_format": "xml"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "response_format"
    missing = served.http.get("/v1/jobs/job_nope")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "job_not_found"
    garbage = submit(served.http, Path(__file__))  # not audio: the job fails with the decoder's message
    failed = wait_finished(served.http, garbage["id"])
    assert failed["status"] == "failed" and failed["error"]["message"]
    assert served.http.get(f"/v1/jobs/{garbage['id']}/result").json()["error"]["code"] == "job_failed"


class _Receiver(http.server.BaseHTTPRequestHandler):
    statuses: list[int]
    received: list[tuple[dict[str, str], bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((dict(self.headers), body))
        self.send_response(self.statuses.pop(0) if self.statuses else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, type[_Receiver]]]:
    handler = type("Receiver", (_Receiver,), {"statuses": [500], "received": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", handler
    server.shutdown()


def test_webhook_is_signed_and_retried(
    make_server: Callable[..., LiveServer], audio_dir: Path, receiver: tuple[str, type[_Receiver]]
) -> None:
    url, handler = receiver
    live = make_server(
        JOBS_WEBHOOK_HOSTS="127.0.0.1",
        JOBS_WEBHOOK_SECRET=SECRET,
        JOBS_WEBHOOK_BACKOFF_SECONDS=0.05,
        JOBS_POLL_SECONDS=0.05,
    )
    job = submit(live.url, audio_dir / "weather.wav", callback_url=url)
    assert job["webhook"] == {
        "url": url,
        "state": "waiting",
        "attempts": 0,
        "last_status": None,
        "last_error": None,
    }
    done = wait_for_job(
        live.url, job["id"], "has its webhook delivered", lambda j: j["webhook"]["state"] == "delivered"
    )
    assert done["webhook"]["attempts"] == 2 and done["webhook"]["last_status"] == 200
    assert len(handler.received) == 2  # the first answer was a 500: retried after the backoff
    headers, body = handler.received[-1]
    assert verify(SECRET, headers[SIGNATURE_HEADER], body, now=time.time())
    assert not verify(
        SECRET, headers[SIGNATURE_HEADER], body.replace(b"succeeded", b"failed!!!"), now=time.time()
    )
    assert not verify("another-secret", headers[SIGNATURE_HEADER], body, now=time.time())
    payload = json.loads(body)
    assert payload["id"] == job["id"] and payload["status"] == "succeeded"


class _Files(http.server.SimpleHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.startswith("/elsewhere/"):  # a redirect to a host the operator did not allow
            self.send_response(302)
            port = self.headers["Host"].rsplit(":", 1)[1]
            self.send_header("Location", f"http://localhost:{port}/weather.wav")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        super().do_GET()

    def log_message(self, *args: object) -> None:
        pass


def test_job_from_an_allowed_url(make_server: Callable[..., LiveServer], audio_dir: Path) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_Files, directory=str(audio_dir)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        live = make_server(JOBS_URL_HOSTS="127.0.0.1")
        response = httpx.post(f"{live.url}/v1/jobs", files={"url": (None, f"{base}/weather.wav")})
        assert response.status_code == 202, response.text
        assert wait_finished(live.url, response.json()["id"])["status"] == "succeeded"
        text = httpx.get(
            f"{live.url}/v1/jobs/{response.json()['id']}/result", params={"response_format": "text"}
        )
        assert text.text == _sync(live.url, audio_dir / "weather.wav", response_format="text").text
        redirected = httpx.post(f"{live.url}/v1/jobs", files={"url": (None, f"{base}/elsewhere/x")})
        assert redirected.status_code == 400
        assert redirected.json()["error"]["message"] == "The audio URL could not be fetched."
        missing = httpx.post(f"{live.url}/v1/jobs", files={"url": (None, f"{base}/nothing.wav")})
        assert missing.status_code == 400 and missing.json() == redirected.json()  # no detail either way
        small = make_server(JOBS_URL_HOSTS="127.0.0.1", MAX_UPLOAD_MB=0.01)
        large = httpx.post(f"{small.url}/v1/jobs", files={"url": (None, f"{base}/weather.wav")})
        assert large.status_code == 413 and large.json()["error"]["code"] == "file_too_large"
        assert list(small.app.state.jobs.audio.dir.iterdir()) == []  # the partial download is gone
        assert list(live.app.state.jobs.audio.dir.iterdir()) == [
            live.app.state.jobs.audio.path(response.json()["id"])
        ]
    finally:
        server.shutdown()


def test_a_stopping_server_hands_its_job_back(
    settings_factory: Callable[..., Settings], several_segments: Path, tmp_path: Path
) -> None:
    engines: list[WatchedEngine] = []

    def gated(engine: ASREngine) -> ASREngine:
        engines.append(WatchedEngine(engine, gated=True))
        return engines[-1]

    settings = settings_factory(
        JOBS_DIR=tmp_path, DIRECT_MAX_SECONDS=1, BATCH_SECONDS=1, VAD_MIN=1, VAD_MAX=4
    )
    live = start_server(settings, factory=partial(build_transcriber, wrap_engine=gated))
    job = submit(live.url, several_segments)
    wait_until(engines[0].started.is_set, "the job's first batch reaches the engine")
    store = SqliteJobStore(tmp_path / "jobs.sqlite3")  # the server's own closes as it stops
    live.server.should_exit = True  # what SIGTERM does once requests are drained
    wait_until(lambda: getattr(store.get(job["id"]), "status", None) == "queued", "the job is handed back")
    engines[0].gate.set()  # let the held batch end so the engine can stop
    live.thread.join(timeout=60)

    restarted = start_server(settings)
    try:
        done = wait_finished(restarted.url, job["id"])
        assert done["status"] == "succeeded" and done["runs"] == 2
    finally:
        restarted.stop()
