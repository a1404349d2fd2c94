"""/v1/jobs against hostile URLs, undeliverable webhooks, concurrent downloads and a store that lost its
data: clear 400s, no network detail, webhooks that end, budgets that hold, no file left forever."""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import redis

from gigaam_api.engines.base import ServerVAD
from gigaam_api.jobs.guarded_store import GuardedStore
from gigaam_api.jobs.model import Job, Webhook, new_job_id
from gigaam_api.jobs.sqlite_store import SqliteJobStore
from gigaam_api.jobs.webhooks import WebhookSender
from gigaam_api.options.transcription import TranscriptionOptions
from tests.fixtures.jobs import submit
from tests.fixtures.live_server import LiveServer
from tests.fixtures.processes import free_port
from tests.fixtures.waiting import HANG_GUARD_SECONDS, wait_until, wait_until_async

NOT_FETCHED = {
    "error": {
        "message": "The audio URL could not be fetched.",
        "type": "invalid_request_error",
        "param": "url",
        "code": None,
    }
}


@contextlib.contextmanager
def _serve(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def test_urls_the_client_would_refuse_are_400s_at_submission(
    make_server: Callable[..., LiveServer], audio_dir: Path
) -> None:
    live = make_server(
        JOBS_URL_HOSTS="127.0.0.1",
        JOBS_WEBHOOK_HOSTS="127.0.0.1",
        JOBS_WEBHOOK_SECRET="s",
        JOBS_URL_PORTS="80,443",
        JOBS_WORKERS=0,
    )
    for bad in (
        "http://127.0.0.1:80:80/a.wav",  # the host is allowed; httpx refuses the port
        "http://127.0.0.1\t/a.wav",  # a tab before the path
        "http://127.0.0.1:8080/a.wav",  # a port outside JOBS_URL_PORTS
    ):
        as_url = httpx.post(f"{live.url}/v1/jobs", files={"url": (None, bad)})
        assert as_url.status_code == 400 and as_url.json()["error"]["param"] == "url", as_url.text
        with (audio_dir / "weather.wav").open("rb") as f:
            as_hook = httpx.post(
                f"{live.url}/v1/jobs", files={"file": ("a.wav", f)}, data={"callback_url": bad}
            )
        assert as_hook.status_code == 400 and as_hook.json()["error"]["param"] == "callback_url", as_hook.text
    assert httpx.get(f"{live.url}/v1/jobs").json()["data"] == []


class _Answers(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(401 if self.path == "/secret.wav" else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_fetch_failures_say_nothing_of_the_network(make_server: Callable[..., LiveServer]) -> None:
    live = make_server(JOBS_URL_HOSTS="127.0.0.1", JOBS_WORKERS=0)
    with _serve(_Answers) as base:
        answers = []
        for url in (f"{base}/secret.wav", f"{base}/missing.wav", f"http://127.0.0.1:{free_port()}/a.wav"):
            response = httpx.post(f"{live.url}/v1/jobs", files={"url": (None, url)}, timeout=60)
            answers.append((response.status_code, response.json()))
        assert answers == [(400, NOT_FETCHED)] * 3  # 401, 404 and a closed port look the same


def _hook_job(url: str, attempts: int = 0) -> Job:
    hook = Webhook(url, state="pending", attempts=attempts, next_attempt_at=0.0)
    return Job(new_job_id(), "", time.time(), 1, webhook=hook)


class _Counts(http.server.BaseHTTPRequestHandler):
    hits: list[str]

    def do_POST(self) -> None:
        self.hits.append(self.path)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_an_undeliverable_webhook_ends_failed_after_its_attempts(tmp_path: Path) -> None:
    store = SqliteJobStore(tmp_path / "jobs.sqlite3")
    handler: type[_Counts] = type("Counts", (_Counts,), {"hits": []})
    with _serve(handler) as base:
        never = store.add(_hook_job("http://127.0.0.1:80:80/hook"))  # stored before URLs were checked
        lost = store.add(_hook_job(f"{base}/hook", attempts=3))  # its last attempt's sender died

        async def deliver() -> None:
            guarded = GuardedStore(store, timeout=30)
            sender = WebhookSender(
                guarded, secret="s", attempts=3, backoff_seconds=0.001, timeout_seconds=10, concurrency=2
            )
            async with httpx.AsyncClient() as client:

                async def ended() -> bool:
                    await sender.start_due(client)
                    return all(store.get(j.id).webhook.state != "pending" for j in (never, lost))  # type: ignore[union-attr]

                await wait_until_async(ended, "the webhooks end")

        asyncio.run(deliver())
    failed = store.get(never.id)
    assert failed is not None and failed.webhook is not None
    assert (failed.webhook.state, failed.webhook.attempts) == ("failed", 3)
    assert (failed.webhook.last_status, failed.webhook.last_error) == (None, "not delivered")
    ended = store.get(lost.id)
    assert ended is not None and ended.webhook is not None and ended.webhook.state == "failed"
    assert handler.hits == []  # no fourth attempt
    store.close()


class _GatedFile(http.server.BaseHTTPRequestHandler):
    """Sends a body's headers (with its length), then holds the body until the test opens the gate."""

    body: bytes
    gate: threading.Event
    heads: list[str]

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.flush()
        self.heads.append(self.path)
        assert self.gate.wait(HANG_GUARD_SECONDS), "the test never let the download go on"
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # a download the server refused
            self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


def test_concurrent_downloads_stay_within_jobs_max_mb(
    make_server: Callable[..., LiveServer], audio_dir: Path, tmp_path: Path
) -> None:
    body = (audio_dir / "weather.wav").read_bytes()
    shared = {"body": body, "gate": threading.Event(), "heads": []}
    handler: type[_GatedFile] = type("Gated", (_GatedFile,), shared)
    probe = make_server(JOBS_DIR=tmp_path / "probe", JOBS_WORKERS=0)
    store_bytes = probe.app.state.jobs.audio.used_bytes()  # the empty SQLite store under JOBS_DIR
    budget = store_bytes + 3.5 * len(body)  # room for three downloads, not four
    live = make_server(
        JOBS_DIR=tmp_path / "jobs",
        JOBS_WORKERS=0,
        JOBS_URL_HOSTS="127.0.0.1",
        JOBS_MAX_MB=budget / 2**20,
        MAX_UPLOAD_MB=2 * len(body) / 2**20,
    )
    with _serve(handler) as base, ThreadPoolExecutor(8) as pool:
        posts = [
            pool.submit(
                httpx.post, f"{live.url}/v1/jobs", files={"url": (None, f"{base}/{i}.wav")}, timeout=60
            )
            for i in range(8)
        ]
        wait_until(lambda: len(handler.heads) == 8, "all 8 downloads have started")
        handler.gate.set()
        responses = [p.result() for p in posts]
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [202] * 3 + [503] * 5, [r.text for r in responses]
    assert {r.json()["error"]["code"] for r in responses if r.status_code == 503} == {"jobs_storage_full"}
    audio = live.app.state.jobs.audio
    assert sorted(p.suffix for p in audio.dir.iterdir()) == [".audio"] * 3
    assert audio.used_bytes() <= budget


def test_a_download_holds_an_upload_slot(
    make_server: Callable[..., LiveServer], audio_dir: Path, tmp_path: Path
) -> None:
    shared = {"body": (audio_dir / "weather.wav").read_bytes(), "gate": threading.Event(), "heads": []}
    handler: type[_GatedFile] = type("Gated", (_GatedFile,), shared)
    live = make_server(JOBS_WORKERS=0, JOBS_URL_HOSTS="127.0.0.1", MAX_UPLOADS=1)
    with _serve(handler) as base, ThreadPoolExecutor(1) as pool:
        download = pool.submit(httpx.post, f"{live.url}/v1/jobs", files={"url": (None, f"{base}/a.wav")})
        wait_until(lambda: len(handler.heads) == 1, "the download has started")
        try:
            with (audio_dir / "weather.wav").open("rb") as f:
                upload = httpx.post(f"{live.url}/v1/jobs", files={"file": ("a.wav", f)}, timeout=60)
            assert upload.status_code == 503 and upload.json()["error"]["code"] == "too_many_uploads"
        finally:
            handler.gate.set()
        assert download.result().status_code == 202
    assert live.state.uploads.count == 0


def test_a_download_counts_against_its_clients_share_of_upload_slots(
    make_server: Callable[..., LiveServer], audio_dir: Path
) -> None:
    shared = {"body": (audio_dir / "weather.wav").read_bytes(), "gate": threading.Event(), "heads": []}
    handler: type[_GatedFile] = type("Gated", (_GatedFile,), shared)
    live = make_server(
        JOBS_WORKERS=0, JOBS_URL_HOSTS="127.0.0.1", MAX_UPLOADS=4, UPLOADS_PER_CLIENT_SHARE=0.25
    )  # 1 slot per client
    with _serve(handler) as base, ThreadPoolExecutor(1) as pool:
        first = pool.submit(httpx.post, f"{live.url}/v1/jobs", files={"url": (None, f"{base}/a.wav")})
        wait_until(lambda: len(handler.heads) == 1, "the first download has started")
        try:
            second = httpx.post(f"{live.url}/v1/jobs", files={"url": (None, f"{base}/b.wav")}, timeout=60)
        finally:
            handler.gate.set()
        assert first.result().status_code == 202
    assert second.status_code == 429, second.text
    assert second.json()["error"]["code"] == "too_many_uploads_from_client"
    assert handler.heads == ["/a.wav"]
    assert live.state.uploads.count == 0


def _age(path: Path) -> None:
    old = time.time() - 86400
    os.utime(path, (old, old))


def test_leftover_downloads_and_orphaned_audio_are_swept(
    make_server: Callable[..., LiveServer], audio_dir: Path, redis_url: str, tmp_path: Path
) -> None:
    redis.Redis.from_url(redis_url).flushdb()
    jobs_dir = tmp_path / "jobs"
    first = make_server(JOBS_DIR=jobs_dir, JOBS_REDIS_URL=redis_url, JOBS_WORKERS=0, JOBS_SWEEP_SECONDS=0.05)
    job = submit(first.url, audio_dir / "weather.wav")
    audio = first.app.state.jobs.audio
    owned = audio.path(job["id"])
    redis.Redis.from_url(redis_url).flushdb()  # the store loses its data; the audio stays on the volume
    _age(owned)
    wait_until(lambda: not owned.exists(), "the periodic sweep removes the orphaned audio")
    first.stop()

    dead = audio.dir / "job_killed.partial"  # a download whose server was killed
    dead.write_bytes(b"RIFF")
    _age(dead)
    second = make_server(JOBS_DIR=jobs_dir, JOBS_REDIS_URL=redis_url, JOBS_WORKERS=0, JOBS_SWEEP_SECONDS=3600)
    wait_until(lambda: not dead.exists(), "the sweep at start removes the partial download")
    kept = submit(second.url, audio_dir / "weather.wav")
    assert second.app.state.jobs.audio.path(kept["id"]).exists()


def test_the_parsed_options_are_stored(make_server: Callable[..., LiveServer], audio_dir: Path) -> None:
    """What the worker, the result and the events read: the submission's options, parsed once."""
    live = make_server(JOBS_WORKERS=0)
    job = submit(
        live.url,
        audio_dir / "weather.wav",
        prompt="Завтра",
        response_format="text",
        unknown="x" * 60_000,
        **{"include[]": "logprobs", "chunking_strategy[type]": "server_vad"},
    )
    stored = live.app.state.jobs.store.backend.get(job["id"])
    assert stored is not None
    assert stored.options == TranscriptionOptions(
        prompt="Завтра", response_format="text", include_logprobs=True, chunking_strategy=ServerVAD()
    )


def test_a_job_stored_after_its_submission_timed_out_keeps_its_audio(
    make_server: Callable[..., LiveServer], audio_dir: Path
) -> None:
    """A store that answers too late may still commit the job: its audio must be there when it does."""
    # Only the gated `add` may time out: the submission's other store calls need far less than 5 s,
    # however loaded the machine (the test waits the timeout once).
    live = make_server(JOBS_WORKERS=0, JOBS_STORE_TIMEOUT_SECONDS=5)
    backend = live.app.state.jobs.store.backend
    add = backend.add
    gate, added = threading.Event(), []

    def late_add(job: Job) -> Job:
        assert gate.wait(HANG_GUARD_SECONDS), "the test never let the store answer"
        stored: Job = add(job)
        added.append(stored)
        return stored

    backend.add = late_add
    with (audio_dir / "weather.wav").open("rb") as f:
        response = httpx.post(f"{live.url}/v1/jobs", files={"file": ("weather.wav", f)}, timeout=60)
    assert response.status_code == 503 and response.json()["error"]["code"] == "store_unavailable"
    gate.set()
    wait_until(lambda: bool(added), "the store commits the job after all")
    stored = backend.get(added[0].id)
    assert stored is not None
    assert live.app.state.jobs.audio.path(stored.id).exists(), "its audio was removed at the timeout"
