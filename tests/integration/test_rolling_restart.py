"""A rolling restart behind the shipped deploy/nginx.conf: a real nginx in front of two real replicas
sharing a real Redis. One replica drains (SIGTERM) while requests keep coming: every POST succeeds (nginx
sends the drainer's 503 `shutting_down` to the other replica), the drainer's `/ready` is 503 and it hands
its running job back at once; nginx's own errors are the service's JSON envelopes.

Nothing is timed: the draining replica's engine is held at a gate (`tests.fixtures.gated_serve`; each
batch of the several-batch job waits for it) and an upload the test never finishes keeps it draining,
until the test lets both go.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from tests.fixtures.job_servers import REPO, ServerProcesses
from tests.fixtures.jobs import submit, wait_finished, wait_for_job
from tests.fixtures.processes import Served, free_port
from tests.fixtures.speech import PAUSES, SENTENCES, long_speech, write_wav
from tests.fixtures.waiting import wait_until

ACCESS_LOG = "access.log"


def _nginx_config(upstreams: tuple[str, str], port: int, directory: Path) -> str:
    """The shipped config with this machine's addresses, its own temp paths and an access log that
    shows which replica answered what ($upstream_status: "503, 202" is a retried request)."""
    text = (REPO / "deploy" / "nginx.conf").read_text()
    for name, address in zip(("replica-1:8000", "replica-2:8000"), upstreams, strict=True):
        assert f"server {name}" in text
        text = text.replace(f"server {name}", f"server {address}")
    assert "listen 80;" in text
    text = text.replace("listen 80;", f"listen 127.0.0.1:{port};")
    local = (
        f"client_body_temp_path {directory}/body; proxy_temp_path {directory}/proxy; "
        f"fastcgi_temp_path {directory}/fastcgi; uwsgi_temp_path {directory}/uwsgi; "
        f"scgi_temp_path {directory}/scgi; "
        "log_format upstreams '$request_method $request_uri $status \"$upstream_status\"'; "
        f"access_log {directory}/{ACCESS_LOG} upstreams;"
    )
    return text.replace("http {", "http {\n    " + local, 1)


@pytest.fixture
def run_nginx(tmp_path: Path) -> Iterator[Callable[[tuple[str, str]], str]]:
    binary = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    if binary is None:
        pytest.fail("nginx is missing: apt-get install nginx (or `make system-deps`)")
    started: list[subprocess.Popen[bytes]] = []
    directory = tmp_path / "nginx"

    def start(upstreams: tuple[str, str]) -> str:
        directory.mkdir()
        port = free_port()
        (directory / "nginx.conf").write_text(_nginx_config(upstreams, port, directory))
        user = "user root;" if os.geteuid() == 0 else ""  # workers would be `nobody`, kept out of tmp_path
        process = subprocess.Popen(
            [
                binary,
                "-c",
                str(directory / "nginx.conf"),
                "-g",
                f"daemon off; pid {directory}/nginx.pid; error_log {directory}/error.log; {user}",
            ]
        )
        started.append(process)

        def listening() -> bool:
            assert process.poll() is None, (directory / "error.log").read_text()
            with socket.socket() as sock:
                return sock.connect_ex(("127.0.0.1", port)) == 0

        wait_until(listening, "nginx listens")
        return f"http://127.0.0.1:{port}"

    yield start
    for process in started:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture
def replicas(models_dir: Path, tmp_path: Path) -> Iterator[Callable[..., Served]]:
    processes = ServerProcesses(models_dir, tmp_path)

    def start(module: str, **settings: str) -> Served:
        return processes.start(
            module,
            *(["serve"] if module == "gigaam_api" else []),
            spool=f"spool-{len(processes.started)}",
            JOBS_POLL_SECONDS="0.1",
            # Every chunk its own batch: the handed-back job is resumed from a stored batch boundary.
            DIRECT_MAX_SECONDS="1",
            BATCH_SECONDS="1",
            VAD_MIN="1",
            VAD_MAX="4",
            **settings,
        )

    yield start
    processes.kill_all()


def _hold_an_upload(url: str) -> socket.socket:
    """A request still arriving: the replica drains until it ends (the test closes the socket)."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)))
    boundary = "held"
    sock.sendall(
        (
            "POST /v1/audio/transcriptions HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n\r\n"
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'
        ).encode()
        + b"\0" * 4096
    )
    return sock


def _health(served: Served) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(f"{served.url}/health", timeout=30).json()
    return body


def _raw(url: str, request: bytes) -> tuple[int, dict[str, Any]]:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"content-type: application/json" in head.lower(), head
    return int(head.split()[1]), json.loads(body)


def test_a_replica_drains_behind_nginx_and_every_post_succeeds(
    replicas: Callable[..., Served],
    run_nginx: Callable[[tuple[str, str]], str],
    redis_url: str,
    audio_dir: Path,
    tmp_path: Path,
) -> None:
    redis.Redis.from_url(redis_url).flushdb()
    audio = audio_dir / "weather.wav"
    draining = replicas(
        "tests.fixtures.gated_serve",
        JOBS_REDIS_URL=redis_url,
        SHUTDOWN_GRACE_SECONDS="600",
        UPLOAD_IDLE_TIMEOUT_SECONDS="600",
        UPLOAD_MIN_BYTES_PER_SECOND="0",
    )
    several_batches, _ = long_speech(SENTENCES[:4], PAUSES[:3])
    write_wav(tmp_path / "long.wav", several_batches)
    handed_back = submit(draining.url, tmp_path / "long.wav")
    wait_for_job(
        draining.url, handed_back["id"], "runs on the gated replica", lambda j: j["status"] == "running"
    )
    other = replicas("gigaam_api", JOBS_REDIS_URL=redis_url)  # after the claim: it cannot take the job first
    proxy = run_nginx((draining.url.removeprefix("http://"), other.url.removeprefix("http://")))

    held = _hold_an_upload(draining.url)
    try:
        wait_until(lambda: _health(draining)["uploads"] == 1, "the held upload is in progress")
        draining.process.send_signal(signal.SIGTERM)
        wait_until(lambda: _health(draining)["shutting_down"], "the replica drains")
        ready = httpx.get(f"{draining.url}/ready", timeout=30)
        assert ready.status_code == 503 and ready.json()["error"]["code"] == "shutting_down"

        # Handed back at once (not when the 600-s grace ends), and finished by the other replica.
        done = wait_finished(other.url, handed_back["id"])
        assert done["status"] == "succeeded" and done["runs"] == 2

        submitted = []
        for _ in range(4):
            submitted.append(submit(proxy, audio)["id"])
            with audio.open("rb") as f:
                response = httpx.post(
                    f"{proxy}/v1/audio/transcriptions",
                    files={"file": (audio.name, f)},
                    data={"response_format": "text"},
                    timeout=120,
                )
            assert response.status_code == 200, response.text
        for job_id in submitted:  # the drainer claimed none of them: its engine is still held
            finished = wait_finished(proxy, job_id)
            assert finished["status"] == "succeeded" and finished["runs"] == 1
        log = (tmp_path / "nginx" / ACCESS_LOG).read_text().splitlines()
        retried = [line for line in log if line.startswith("POST ") and '"503, ' in line]
        assert retried, "\n".join(log)  # the drainer was asked, refused, and the other replica answered
        assert all(line.split()[2] in ("200", "202") for line in log if line.startswith("POST ")), log
    finally:
        draining.process.send_signal(signal.SIGUSR1)  # the held batch ends
        held.close()
    try:
        assert draining.process.wait(timeout=120) == 0
    except subprocess.TimeoutExpired:  # a hang: say where the drainer stood
        assert draining.log is not None
        tail = draining.log.read_text().splitlines()[-40:]
        raise AssertionError("the drained replica never exited:\n" + "\n".join(tail)) from None

    # nginx's own errors are JSON envelopes: a body over its limit, no replica left.
    status, body = _raw(
        proxy,
        b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000000\r\n"
        b"Content-Type: multipart/form-data; boundary=b\r\n\r\n",
    )
    assert status == 413 and body["error"]["code"] == "request_too_large"
    status, body = _raw(proxy, b"NONSENSE\r\n\r\n")
    assert status == 400 and body["error"]["type"] == "invalid_request_error"
    other.process.terminate()
    other.process.wait(timeout=120)
    missing = httpx.get(f"{proxy}/v1/models", timeout=30)
    assert missing.status_code == 502 and missing.headers["content-type"] == "application/json"
    assert missing.json()["error"]["code"] == "upstream_unavailable"
