"""The service end to end through HTTP: a real `gigaam-api serve` process on 127.0.0.1."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx
import psutil


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str
    cold_start_seconds: float
    peak_rss: int = 0
    _sampling: bool = False

    @contextmanager
    def watch_rss(self) -> Iterator[None]:
        """Track the server's peak RSS while the block runs (sampled every 50 ms)."""
        proc = psutil.Process(self.process.pid)
        self.peak_rss = proc.memory_info().rss
        self._sampling = True

        def sample() -> None:
            while self._sampling:
                self.peak_rss = max(self.peak_rss, proc.memory_info().rss)
                time.sleep(0.05)

        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        try:
            yield
        finally:
            self._sampling = False
            thread.join()


def serve(models_dir: Path, *, threads: int, **settings: str) -> AbstractContextManager[Server]:
    """`gigaam-api serve` on a free port, once `/ready`; stopped on exit."""
    return serve_module(("gigaam_api", "serve"), models_dir, threads=threads, **settings)


@contextmanager
def serve_module(
    command: tuple[str, ...], models_dir: Path, *, threads: int, **settings: str
) -> Iterator[Server]:
    """`python -m <command>` (the server, or a test fixture wrapping it) as `serve` runs it."""
    port = _free_port()
    env = dict(os.environ)
    env.update(
        MODELS_DIR=str(models_dir),
        OFFLINE="true",
        NUM_THREADS=str(threads),
        PORT=str(port),
        LOG_LEVEL="WARNING",
        PROGRESS_SECONDS="3600",
    )
    env.update(DEDUP="false", CACHE_MAX_MB="0")  # repeated runs of one file must really run
    env.update(settings)
    started = time.monotonic()
    process = subprocess.Popen([sys.executable, "-m", *command], env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError("the server exited during start-up")
            try:
                if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        yield Server(process, url, time.monotonic() - started)
    finally:
        process.terminate()
        process.wait(timeout=120)


class _TimedUpload:
    """A file whose reader notes when the last byte was handed to the HTTP client."""

    def __init__(self, f: IO[bytes]) -> None:
        self._f = f
        self.finished_at = 0.0

    def read(self, size: int = -1) -> bytes:
        data = self._f.read(size)
        if not data and not self.finished_at:
            self.finished_at = time.monotonic()
        return data


@dataclass
class RunResult:
    wall_seconds: float
    upload_seconds: float
    first_segment_after_upload: float | None
    chunk_seconds: float  # audio the model ran on (the chunks VAD kept)
    audio_seconds: float
    text: str


def transcribe(url: str, path: Path, *, stream: bool, fields: dict[str, str] | None = None) -> RunResult:
    started = time.monotonic()
    first: float | None = None
    chunk_seconds = 0.0
    duration = 0.0
    text = ""
    with path.open("rb") as f, httpx.Client(timeout=7200) as http:
        upload = _TimedUpload(f)
        files: Any = {"file": ("upload", upload, "application/octet-stream")}  # duck-typed file object
        data = {"stream": "true"} if stream else {"response_format": "verbose_json"}
        data |= fields or {}
        with http.stream("POST", f"{url}/v1/audio/transcriptions", data=data, files=files) as response:
            response.raise_for_status()
            if stream:
                for line in response.iter_lines():
                    if not line.startswith("data: "):
                        continue
                    event = json.loads(line.removeprefix("data: "))
                    if event.get("type") == "transcript.text.segment":
                        first = first if first is not None else time.monotonic()
                        chunk_seconds += event["end"] - event["start"]
                    elif event.get("type") == "transcript.text.done":
                        duration = event["usage"]["seconds"]
                        text = event["text"]
            else:
                body = json.loads(response.read())
                duration = body["duration"]
                text = body["text"]
                chunk_seconds = sum(s["end"] - s["start"] for s in body["segments"])
    wall = time.monotonic() - started
    upload_end = upload.finished_at or started
    return RunResult(
        wall_seconds=wall,
        upload_seconds=upload_end - started,
        first_segment_after_upload=None if first is None else first - upload_end,
        chunk_seconds=chunk_seconds,
        audio_seconds=duration,
        text=text,
    )


def latency(url: str, path: Path) -> float:
    started = time.monotonic()
    response = httpx.post(
        f"{url}/v1/audio/transcriptions", files={"file": ("upload", path.read_bytes())}, timeout=600
    )
    response.raise_for_status()
    return time.monotonic() - started


def summary(result: RunResult, peak_rss: int) -> dict[str, Any]:
    return {
        "audio_seconds": round(result.audio_seconds, 1),
        "wall_seconds": round(result.wall_seconds, 2),
        "realtime": round(result.audio_seconds / result.wall_seconds, 2),
        "speech_realtime": round(result.chunk_seconds / result.wall_seconds, 2),
        "upload_seconds": round(result.upload_seconds, 2),
        "first_segment_after_upload": None
        if result.first_segment_after_upload is None
        else round(result.first_segment_after_upload, 2),
        "peak_rss_mb": round(peak_rss / 2**20, 1),
    }
