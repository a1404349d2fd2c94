"""Idle and slow connections against real servers: the request-head deadline, the connection cap, and a
server at its open-file limit (a subprocess under a low `ulimit -n`)."""

from __future__ import annotations

import contextlib
import os
import select
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import httpx
import pytest

from tests.fixtures.live_server import LiveServer
from tests.fixtures.raw_http import RawConnection, file_part, multipart
from tests.fixtures.waiting import HANG_GUARD_SECONDS, answers, wait_until

BOUNDARY = b"connections-boundary"
# A request head of 2 KB: sent a byte every 10 ms it takes 20 s, forty times the tests' head timeout.
SLOW_HEAD = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 2000 + b"\r\n\r\n"


def _connect(live: LiveServer) -> socket.socket:
    host, port = live.url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=30)


def _closed_by_server(sock: socket.socket) -> bool:
    """Whether the server closed this connection (blocks until it does, or the socket's timeout)."""
    try:
        return sock.recv(65536) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def _still_open(sock: socket.socket) -> bool:
    """Whether the connection is open and silent right now (no close, no data)."""
    readable, _, _ = select.select([sock], [], [], 0)
    return not readable


def _trickle(sock: socket.socket, data: bytes, interval: float = 0.01) -> int:
    """Send `data` a byte at a time until it is all sent or the server closes; returns bytes sent."""
    for sent in range(len(data)):
        readable, _, _ = select.select([sock], [], [], interval)
        if readable:
            return sent  # the server closed (or answered): stop
        try:
            sock.sendall(data[sent : sent + 1])
        except (BrokenPipeError, ConnectionResetError):
            return sent
    return len(data)


def _server_connections(live: LiveServer) -> int:
    return len(live.server.server_state.connections)


def _has_connections(live: LiveServer, count: int) -> bool:
    return _server_connections(live) == count


def test_a_connection_that_never_sends_a_byte_is_closed(make_server: Callable[..., LiveServer]) -> None:
    live = make_server(HEADER_TIMEOUT_SECONDS=0.5)
    with _connect(live) as sock:
        assert _closed_by_server(sock)
    wait_until(lambda: _server_connections(live) == 0, "the server forgot the connection")


def test_a_request_head_sent_a_byte_at_a_time_is_cut(make_server: Callable[..., LiveServer]) -> None:
    live = make_server(HEADER_TIMEOUT_SECONDS=0.5)
    with _connect(live) as sock:
        sent = _trickle(sock, SLOW_HEAD)
        assert sent < len(SLOW_HEAD), "the whole head went through"
        assert _closed_by_server(sock)  # closed, and not a byte of a response


def test_an_idle_keep_alive_connection_trickling_its_next_head_is_cut(
    make_server: Callable[..., LiveServer],
) -> None:
    live = make_server(HEADER_TIMEOUT_SECONDS=0.5)
    with RawConnection(live.url) as conn:
        response = conn.request("GET", "/health")
        assert response.status == 200 and not response.closes
        # uvicorn's own keep-alive timer stops at the first byte of the next request; the deadline does not.
        sent = _trickle(conn.sock, SLOW_HEAD)
        assert sent < len(SLOW_HEAD), "the whole head went through"
        assert _closed_by_server(conn.sock)


def test_a_request_in_progress_outlives_the_head_timeout(make_server: Callable[..., LiveServer]) -> None:
    live = make_server(HEADER_TIMEOUT_SECONDS=0.3, UPLOAD_MIN_BYTES_PER_SECOND=0)
    body = multipart([file_part(bytes(10_000))], BOUNDARY)
    with RawConnection(live.url) as conn:
        for _ in range(2):  # the first request, and the next one on the same connection
            conn.send_head(
                "POST",
                "/v1/audio/transcriptions",
                [
                    ("Content-Type", f"multipart/form-data; boundary={BOUNDARY.decode()}"),
                    ("Content-Length", str(len(body))),
                ],
            )
            conn.send_body(body[:5000], end=False)
            wait_until(lambda: live.state.uploads.count == 1, "the upload is in progress")
            # A connection opened now that never sends a byte is cut by the head timeout: once it is,
            # a whole head timeout has passed while the body was on its way.
            with _connect(live) as witness:
                assert _closed_by_server(witness)
            conn.send_body(body[5000:])
            response = conn.response()
            assert response.status == 400, response.body  # received in full: zeros are no audio
            assert not response.closes
            conn.conn.start_next_cycle()


def test_past_max_connections_the_longest_idle_connection_is_closed(
    make_server: Callable[..., LiveServer],
) -> None:
    live = make_server(MAX_CONNECTIONS=3, HEADER_TIMEOUT_SECONDS=120, UPLOAD_MIN_BYTES_PER_SECOND=0)
    body = multipart([file_part(bytes(10_000))], BOUNDARY)
    with contextlib.ExitStack() as stack:
        # The oldest connection has a request in progress: it is never the one closed.
        uploading = stack.enter_context(RawConnection(live.url))
        uploading.send_head(
            "POST",
            "/v1/audio/transcriptions",
            [
                ("Content-Type", f"multipart/form-data; boundary={BOUNDARY.decode()}"),
                ("Content-Length", str(len(body))),
            ],
        )
        uploading.send_body(body[:5000], end=False)
        wait_until(lambda: live.state.uploads.count == 1, "the upload is in progress")
        idle = []
        for opened in (2, 3):
            idle.append(stack.enter_context(_connect(live)))
            wait_until(partial(_has_connections, live, opened), f"{opened} connections are open")

        with RawConnection(live.url) as fourth:
            assert fourth.request("GET", "/health").status == 200

        assert _closed_by_server(idle[0])  # waited longest for a request head
        assert _still_open(idle[1])
        uploading.send_body(body[5000:])
        assert uploading.response().status == 400  # the upload went on: zeros are no audio


@pytest.fixture
def low_fd_server(models_dir: Path, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str, Path]]:
    """`gigaam-api serve` with an open-file limit of 64 and MAX_CONNECTIONS=16, its stderr in a file."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k not in {"MODEL", "API_KEY", "MAX_CONNECTIONS"}}
    env.update(
        MODELS_DIR=str(models_dir),
        OFFLINE="true",
        PORT=str(port),
        SPOOL_DIR=str(tmp_path / "spool"),
        JOBS_DIR=str(tmp_path / "jobs"),
        GIGAAM_RUNTIME="onnxruntime",
        GIGAAM_PRECISION="fp32",
        NUM_THREADS="1",
        LOG_LEVEL="INFO",
        HEADER_TIMEOUT_SECONDS="120",  # only the connection cap closes the idle connections here
        # Well below the limit, so that each of asyncio's accept retries (one a second) takes many.
        MAX_CONNECTIONS="16",
    )
    log = tmp_path / "stderr.log"
    with log.open("w") as stderr:
        process = subprocess.Popen(
            ["bash", "-c", f"ulimit -n 64 && exec {shlex.quote(sys.executable)} -m gigaam_api serve"],
            env=env,
            stderr=stderr,
            stdout=stderr,
            text=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: answers(f"{url}/ready") or process.poll() is not None, "the server is ready")
        assert process.poll() is None, log.read_text()
        yield process, url, log
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(HANG_GUARD_SECONDS)


def test_a_flood_of_idle_connections_at_the_open_file_limit(
    low_fd_server: tuple[subprocess.Popen[str], str, Path],
) -> None:
    process, url, log = low_fd_server
    host, port = url.removeprefix("http://").split(":")
    began = time.monotonic()
    with contextlib.ExitStack() as stack:
        # Three times the server's open-file limit: it runs out of descriptors (EMFILE) on accept.
        for _ in range(192):
            stack.enter_context(socket.create_connection((host, int(port)), timeout=30))
        wait_until(lambda: "cannot accept new connections" in log.read_text(), "the server hits EMFILE")
        # The connection cap closes the connections that waited longest for a head, so this one, the
        # newest, is accepted when asyncio retries and is answered while the flood is still open.
        assert httpx.get(f"{url}/health", timeout=60).status_code == 200
    minutes = int((time.monotonic() - began) // 60)

    process.send_signal(signal.SIGTERM)
    assert process.wait(HANG_GUARD_SECONDS) == 0
    text = log.read_text()
    print(f"stderr after the flood: {len(text)} bytes, {text.count(chr(10))} lines")
    reports = text.count("cannot accept new connections")
    assert 1 <= reports <= 1 + minutes  # once a minute, however many attempts
    assert "Too many open files" in text
    assert "Traceback" not in text
    assert "socket.accept() out of system resource" not in text
