"""SIGTERM against the real server in a subprocess: nothing is cut silently, nothing is left on disk.

The engine is held at a gate (`tests.fixtures.gated_serve`, opened by SIGUSR1), so requests are still
running when the grace period ends, whatever the machine's speed.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fixtures.processes import Served, free_port, server_env
from tests.fixtures.speech import encode, forged_wav, silent_flac, synthesize
from tests.fixtures.waiting import HANG_GUARD_SECONDS, wait_until

REPO = Path(__file__).resolve().parents[2]
ENDPOINT = "/v1/audio/transcriptions"


@pytest.fixture
def gated(models_dir: Path, tmp_path: Path) -> Iterator[Served]:
    port = free_port()
    env = server_env(
        MODELS_DIR=str(models_dir),
        OFFLINE="true",
        PORT=str(port),
        SPOOL_DIR=str(tmp_path / "spool"),
        SHUTDOWN_GRACE_SECONDS="1",
        LOG_FORMAT="json",
        LOG_LEVEL="INFO",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fixtures.gated_serve"],
        env=env,
        cwd=REPO,
        stderr=subprocess.PIPE,
        text=True,
    )
    served = Served(process, f"http://127.0.0.1:{port}")
    served.wait_ready()
    yield served
    if process.poll() is None:
        process.kill()
    process.communicate()


def _health(served: Served) -> dict[str, object]:
    body: dict[str, object] = httpx.get(f"{served.url}/health", timeout=5).json()
    return body


def _multipart(wav: bytes) -> tuple[bytes, bytes]:
    """Request head and body of a multipart upload, for a raw socket that sends only part of it."""
    boundary = "gigaamtestboundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n'
            "Content-Type: audio/wav\r\n\r\n"
        ).encode()
        + wav
        + f"\r\n--{boundary}--\r\n".encode()
    )
    head = (
        f"POST {ENDPOINT} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n\r\n"
    ).encode()
    return head, body


def _read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in header_lines)}
    return int(status_line.split()[1]), headers, body


def _assert_shutting_down(status: int, headers: httpx.Headers | dict[str, str], body: bytes) -> None:
    assert status == 503
    assert int(headers["retry-after"]) > 0
    error = json.loads(body)["error"]
    assert error["code"] == "shutting_down" and error["type"] == "server_error"
    assert "shutting down" in error["message"]


def test_sigterm_ends_every_request_clearly_and_leaves_nothing(gated: Served, tmp_path: Path) -> None:
    wav = encode(synthesize("Добрый день."), tmp_path / "speech.wav", "wav").read_bytes()
    url = gated.url + ENDPOINT
    files = {"file": ("speech.wav", wav, "audio/wav")}
    with (
        httpx.Client(timeout=60) as http,
        http.stream("POST", url, data={"stream": "true"}, files=files) as stream,
    ):
        # 1. A stream: its headers come once decoding is done; its one batch then waits at the gate.
        assert stream.status_code == 200
        # 2. A non-streaming request, queued behind it.
        answers: list[httpx.Response] = []
        waiting = threading.Thread(target=lambda: answers.append(httpx.post(url, files=files, timeout=60)))
        waiting.start()
        # 3. An upload still arriving: half of the body sent.
        head, body = _multipart(wav)
        upload = socket.create_connection(("127.0.0.1", int(gated.url.rsplit(":", 1)[1])))
        upload.sendall(head + body[: len(body) // 2])
        wait_until(lambda: _health(gated)["in_flight"] == 3, "three requests in flight")

        gated.process.send_signal(signal.SIGTERM)
        wait_until(lambda: bool(_health(gated)["shutting_down"]), "draining")
        refused = httpx.post(url, files=files, timeout=10)
        _assert_shutting_down(refused.status_code, refused.headers, refused.content)
        assert refused.headers["x-request-id"].startswith("req_")

        # The grace period (1 s) passes with the gate closed: every request is ended, each clearly.
        events = [json.loads(line[6:]) for line in stream.iter_lines() if line.startswith("data: ")]
    assert events == [events[-1]] and events[-1]["error"]["code"] == "shutting_down"
    waiting.join(HANG_GUARD_SECONDS)
    _assert_shutting_down(answers[0].status_code, answers[0].headers, answers[0].content)
    status, headers, raw_body = _read_response(upload)
    upload.close()
    _assert_shutting_down(status, headers, raw_body)
    assert headers["content-type"] == "application/json"

    gated.process.send_signal(signal.SIGUSR1)  # let the held batch finish so the engine can stop
    assert gated.process.wait(timeout=60) == 0
    assert gated.process.stderr is not None
    stderr = gated.process.stderr.read()
    assert "Traceback" not in stderr
    for line in stderr.splitlines():
        json.loads(line)  # LOG_FORMAT=json: every line of stderr is a JSON record
    leftovers = list((tmp_path / "spool").rglob("*"))
    print(f"spool after SIGTERM: {len(leftovers)} entries, {sum(p.stat().st_size for p in leftovers)} bytes")
    assert leftovers == []


def test_malformed_audio_is_400_and_every_log_line_stays_json(gated: Served, tmp_path: Path) -> None:
    uploads = [
        forged_wav(tmp_path / "rate.wav", rate=0x7FFFFFFF, channels=1),
        forged_wav(tmp_path / "channels.wav", rate=16_000, channels=255),
        forged_wav(tmp_path / "1hz.wav", rate=1, channels=1),
        silent_flac(tmp_path / "silence.flac", hours=1),
    ]
    for path in uploads:
        for stream in ("false", "true"):
            files = {"file": (path.name, path.read_bytes(), "application/octet-stream")}
            response = httpx.post(gated.url + ENDPOINT, data={"stream": stream}, files=files, timeout=60)
            if response.status_code == 200:  # the silence streams past 25 s before it is refused
                events = [
                    json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: ")
                ]
                assert events[-1]["error"]["type"] == "invalid_request_error"
            else:
                assert response.status_code == 400, response.text

    gated.process.send_signal(signal.SIGTERM)
    assert gated.process.wait(timeout=60) == 0
    assert gated.process.stderr is not None
    lines = gated.process.stderr.read().splitlines()
    records = [json.loads(line) for line in lines]  # LOG_FORMAT=json: nothing else on stderr
    assert not [r for r in records if r["level"] in ("ERROR", "CRITICAL")]
    assert not any("Traceback" in line or "Exception in thread" in line for line in lines)
    assert list((tmp_path / "spool").rglob("*")) == []
