"""`translate` jobs: the transcript is translated once, in the background, and the texts are stored.

Real servers on each job store (a SQLite file, a real redis-server) and real fake-LLM HTTP servers
(tests/fixtures/fake_llm.py: upper-casing is the "translation"). The LLM's request log counts its calls:
a translated job is read without asking it again, and a restarted server asks only what was not stored.
"""

from __future__ import annotations

import dataclasses
import http.server
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
import redis

from gigaam_api.config import Settings
from tests.fixtures.fake_llm import FakeLLM, fake_llm
from tests.fixtures.jobs import get_job, job_events, submit, wait_for_job
from tests.fixtures.live_server import LiveServer, start_server
from tests.fixtures.speech import PAUSES, SENTENCES, long_speech, write_wav
from tests.fixtures.waiting import wait_until

# Every pause ends a segment: four segments; batches of two, one call at a time, make two chunks.
CHUNKING = json.dumps({"type": "server_vad", "silence_duration_ms": 300})


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Path:
    audio, _ = long_speech(SENTENCES[:4], PAUSES[:3])
    return write_wav(tmp_path_factory.mktemp("job-translations") / "four.wav", audio)


@pytest.fixture
def llm() -> Iterator[FakeLLM]:
    with fake_llm() as server:
        yield server


@pytest.fixture(params=["sqlite", "redis"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    """The settings of one job store, shared by every server a test starts (a restart finds its jobs)."""
    if request.param == "sqlite":
        return {"JOBS_DIR": tmp_path / "jobs"}
    url: str = request.getfixturevalue("redis_url")
    redis.Redis.from_url(url).flushdb()
    return {"JOBS_DIR": tmp_path / "jobs", "JOBS_REDIS_URL": url}


@pytest.fixture
def servers(
    settings_factory: Callable[..., Settings], backend: dict[str, Any], llm: FakeLLM
) -> Iterator[Callable[..., LiveServer]]:
    started: list[LiveServer] = []

    def start(**overrides: Any) -> LiveServer:
        settings = settings_factory(
            TRANSLATION_BASE_URL=llm.url,
            TRANSLATION_MODEL="fake-model",
            TRANSLATION_BATCH_SEGMENTS=2,
            TRANSLATION_CONCURRENCY=1,
            JOBS_POLL_SECONDS=0.05,
            **{**backend, **overrides},
        )
        live = start_server(settings)
        started.append(live)
        return live

    yield start
    llm.gate.set()
    for live in started:
        if live.thread.is_alive():
            live.stop()


def _submit(live: LiveServer, speech: Path, **fields: Any) -> str:
    job = submit(live.url, speech, chunking_strategy=CHUNKING, response_format="srt", **fields)
    job_id: str = job["id"]
    return job_id


def _transcript(live: LiveServer, speech: Path) -> str:
    """The recording as a job without translation transcribes it (the reference of every check)."""
    job_id = _submit(live, speech)
    wait_for_job(live.url, job_id, "succeeded", lambda j: j["status"] == "succeeded")
    return httpx.get(f"{live.url}/v1/jobs/{job_id}/result", timeout=60).text


def _translation_ended(live: LiveServer, job_id: str) -> dict[str, Any]:
    job = wait_for_job(
        live.url,
        job_id,
        "ended its translation",
        lambda j: (j.get("translation") or {}).get("status") in ("succeeded", "failed"),
    )
    translation: dict[str, Any] = job["translation"]
    return translation


def _result(live: LiveServer, job_id: str, **params: Any) -> httpx.Response:
    return httpx.get(f"{live.url}/v1/jobs/{job_id}/result", params=params, timeout=60)


def test_a_translated_job_is_read_without_asking_the_llm_again(
    servers: Callable[..., LiveServer], llm: FakeLLM, speech: Path
) -> None:
    live = servers()
    expected = _transcript(live, speech)
    job_id = _submit(live, speech, translate="en")
    translation = _translation_ended(live, job_id)
    assert translation["status"] == "succeeded", translation
    assert translation["target_language"] == "en"
    job = get_job(live.url, job_id)
    assert (
        job["status"] == "succeeded"
        and translation["translated_segments"] == job["progress"]["segments"] == 4
    )
    calls = len(llm.requests)
    assert llm.batches() == [[0, 1], [2, 3]]
    for _ in range(3):
        translated = _result(live, job_id)
        assert translated.status_code == 200
        assert translated.text == expected.upper()  # the same cues and times, the texts translated
    verbose = _result(live, job_id, response_format="verbose_json").json()
    assert verbose["task"] == "translate" and verbose["language"] == "english"
    assert _result(live, job_id, translate="none").text == expected
    # The events carry the transcript as transcribed (docs/jobs.md); none of it asks the LLM.
    done = job_events(live.url, job_id)[-1][1]
    assert done["type"] == "transcript.text.done" and done["text"] != done["text"].upper()
    assert len(llm.requests) == calls


def test_an_llm_that_is_down_fails_the_translation_and_a_retry_succeeds(
    servers: Callable[..., LiveServer], llm: FakeLLM, speech: Path
) -> None:
    live = servers()
    expected = _transcript(live, speech)
    llm.mode = "error"
    job_id = _submit(live, speech, translate="en")
    translation = _translation_ended(live, job_id)
    assert translation["status"] == "failed"
    assert translation["error"]["code"] == "translation_unavailable"
    assert "HTTP 500" in translation["error"]["message"]
    assert get_job(live.url, job_id)["status"] == "succeeded"  # the transcript is safe
    refused = _result(live, job_id)
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "translation_failed" and "HTTP 500" in error["message"]
    assert _result(live, job_id, translate="none").text == expected

    llm.mode = "upper"
    retried = httpx.post(f"{live.url}/v1/jobs/{job_id}/translation", timeout=60)
    assert retried.status_code == 202
    assert retried.json()["translation"]["status"] in ("pending", "running", "succeeded")
    assert _translation_ended(live, job_id)["status"] == "succeeded"
    assert _result(live, job_id).text == expected.upper()

    calls = len(llm.requests)
    german = httpx.post(
        f"{live.url}/v1/jobs/{job_id}/translation", data={"target_language": "de"}, timeout=60
    )
    assert german.status_code == 202
    wait_for_job(
        live.url, job_id, "translated into German", lambda j: j["translation"]["target_language"] == "de"
    )
    assert _translation_ended(live, job_id)["status"] == "succeeded"
    assert "German" in llm.requests[-1][1]["messages"][0]["content"]
    assert _result(live, job_id, response_format="verbose_json").json()["language"] == "german"
    not_asked = _result(live, job_id, translate="en")
    assert not_asked.status_code == 409 and not_asked.json()["error"]["code"] == "translation_not_requested"
    # Back to English: its texts are stored, so the LLM is not asked again.
    asked = len(llm.requests)
    assert asked > calls
    httpx.post(f"{live.url}/v1/jobs/{job_id}/translation", params={"target_language": "en"}, timeout=60)
    wait_for_job(live.url, job_id, "back to English", lambda j: j["translation"]["target_language"] == "en")
    english = _translation_ended(live, job_id)
    assert english["status"] == "succeeded" and english["translated_segments"] == 4
    assert _result(live, job_id).text == expected.upper()
    assert len(llm.requests) == asked


def test_a_restarted_server_finishes_the_translation_from_what_is_stored(
    servers: Callable[..., LiveServer], llm: FakeLLM, speech: Path
) -> None:
    first = servers()
    expected = _transcript(first, speech)
    llm.hold_from = 1  # the second chunk's call waits, unanswered, while the server stops
    job_id = _submit(first, speech, translate="en")
    wait_until(lambda: len(llm.requests) == 2, "the second chunk reached the LLM")
    stored = wait_for_job(
        first.url, job_id, "stored the first chunk", lambda j: j["translation"]["translated_segments"] == 2
    )
    assert stored["translation"]["status"] == "running"
    first.stop()
    llm.hold_from = None

    second = servers()
    assert _translation_ended(second, job_id)["status"] == "succeeded"
    assert llm.batches() == [[0, 1], [2, 3], [2, 3]]  # the stored chunk was not asked again
    assert _result(second, job_id).text == expected.upper()


class _Hooks(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        self.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hooks() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []
    handler = type("Hooks", (_Hooks,), {"received": received})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    server.shutdown()
    server.server_close()


def test_the_webhook_is_sent_when_the_translation_ends(
    servers: Callable[..., LiveServer],
    llm: FakeLLM,
    speech: Path,
    hooks: tuple[str, list[dict[str, Any]]],
) -> None:
    """Not when the transcript is done: while the translation waits on the LLM, the callback waits."""
    url, received = hooks
    live = servers(JOBS_WEBHOOK_HOSTS="127.0.0.1", JOBS_WEBHOOK_SECRET="test-webhook-secret")
    llm.hold_from = 0
    job_id = _submit(live, speech, translate="en", callback_url=url)
    wait_until(lambda: llm.requests, "the translation reached the LLM")
    held = get_job(live.url, job_id)
    assert held["status"] == "succeeded" and held["webhook"]["state"] == "waiting"
    assert received == []
    llm.gate.set()
    wait_for_job(live.url, job_id, "delivered its webhook", lambda j: j["webhook"]["state"] == "delivered")
    [body] = received
    assert body["id"] == job_id and body["translation"]["status"] == "succeeded"


def test_an_expired_job_is_swept_with_its_translation(
    servers: Callable[..., LiveServer], llm: FakeLLM, speech: Path
) -> None:
    live = servers(JOBS_SWEEP_SECONDS=0.05)
    job_id = _submit(live, speech, translate="en")
    assert _translation_ended(live, job_id)["status"] == "succeeded"
    store = live.app.state.jobs.store.backend
    assert len(store.translations(job_id, "en")) == 4
    # Its results' time is up (as JOBS_RESULT_TTL_SECONDS after the transcript would make it).
    store.update(job_id, lambda j: dataclasses.replace(j, expires_at=time.time() - 1))
    wait_until(lambda: httpx.get(f"{live.url}/v1/jobs/{job_id}").status_code == 404, "the job was swept")
    assert store.translations(job_id, "en") == {}
    assert store.due_translations(time.time() + 3600) == []
