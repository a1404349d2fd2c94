"""A disk that fills below the byte budgets (ENOSPC), on real tmpfs mounts: a 503 `disk_full` and nothing
left behind, for an upload, its decoding, a job's audio (uploaded or downloaded) and a job's decoding."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import http.server
import json
import os
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack
from functools import partial
from pathlib import Path

import httpx
import pytest

from gigaam_api.api.transcriptions import _sse
from gigaam_api.config import Settings
from gigaam_api.options.transcription import TranscriptionOptions
from gigaam_api.pipeline.protocol import RunEvent
from gigaam_api.transcript import Segment
from tests.fixtures.engines import capabilities
from tests.fixtures.jobs import submit, wait_finished
from tests.fixtures.live_server import LiveServer
from tests.fixtures.tmpfs import small_tmpfs

ENDPOINT = "/v1/audio/transcriptions"


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[[str, str], Path]]:
    """`tmpfs(name, size)`: a fresh tmpfs under tmp_path, unmounted when the test ends."""
    with contextlib.ExitStack() as mounts:
        yield lambda name, size: mounts.enter_context(small_tmpfs(tmp_path / name, size))


def _assert_disk_full(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert error["code"] == "disk_full" and error["type"] == "server_error", error
    assert int(response.headers["retry-after"]) > 0


def _files_under(path: Path) -> list[Path]:
    return [p for p in path.rglob("*") if p.is_file()]


def _post(live: LiveServer, audio: Path, **fields: str) -> httpx.Response:
    with audio.open("rb") as f:
        return httpx.post(f"{live.url}{ENDPOINT}", files={"file": (audio.name, f)}, data=fields, timeout=60)


def test_an_upload_into_a_full_spool(
    make_server: Callable[..., LiveServer], audio_dir: Path, tmpfs: Callable[[str, str], Path]
) -> None:
    spool = tmpfs("spool", "64k")  # the 137 KB upload does not fit; SPOOL_MAX_MB (8 GB) is far away
    live = make_server(SPOOL_DIR=spool)
    for stream in ("false", "true"):
        _assert_disk_full(_post(live, audio_dir / "weather.wav", stream=stream))
        assert _files_under(spool) == [] and live.state.spool.used_bytes == 0
    assert httpx.get(f"{live.url}/health").status_code == 200


def test_decoding_into_a_full_spool(
    make_server: Callable[..., LiveServer], audio_dir: Path, tmpfs: Callable[[str, str], Path]
) -> None:
    spool = tmpfs("spool", "128k")  # the 56 KB Ogg fits, its 137 KB of PCM does not
    live = make_server(SPOOL_DIR=spool)
    _assert_disk_full(_post(live, audio_dir / "weather.ogg"))
    assert _files_under(spool) == [] and live.state.spool.used_bytes == 0


class _FillsTheDisk:
    """A run whose decoder hits ENOSPC after the stream has started (its first segment was sent)."""

    duration = None
    language = None

    async def events(self) -> AsyncIterator[RunEvent]:
        yield Segment(0, 0.0, 1.0, "текст", (1,), -0.1, 1.0, 0.0, (), ())
        raise OSError(errno.ENOSPC, "No space left on device")

    async def aclose(self) -> None:
        return None


def test_a_stream_ends_with_a_disk_full_event(settings_factory: Callable[..., Settings]) -> None:
    async def stream() -> list[dict[str, object]]:
        options = TranscriptionOptions(stream=True)
        never = asyncio.Event()
        settings = settings_factory()
        body = _sse(
            _FillsTheDisk(),
            capabilities(),
            options,
            settings,
            AsyncExitStack(),
            run_cleanup=AsyncExitStack(),
            stop=never,
            cancelled=never,
        )
        text = b"".join([chunk async for chunk in body]).decode()
        return [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]

    *sent, last = asyncio.run(stream())
    assert [e["type"] for e in sent] == ["transcript.text.delta", "transcript.text.segment"]
    assert isinstance(last["error"], dict) and last["error"]["code"] == "disk_full", last
    assert last["error"]["type"] == "server_error"


def test_job_audio_on_a_full_disk(
    make_server: Callable[..., LiveServer], audio_dir: Path, tmpfs: Callable[[str, str], Path]
) -> None:
    # The store (about 120 KB with its write-ahead log) and one 137 KB recording, not two; JOBS_MAX_MB
    # (16 GB) is far away.
    jobs = tmpfs("jobs", "320k")
    live = make_server(JOBS_DIR=jobs, JOBS_WORKERS=0, JOBS_URL_HOSTS="127.0.0.1")
    first = submit(live.url, audio_dir / "weather.wav")
    audio = live.app.state.jobs.audio
    assert list(audio.dir.iterdir()) == [audio.path(first["id"])]
    with (audio_dir / "weather.wav").open("rb") as f:
        _assert_disk_full(httpx.post(f"{live.url}/v1/jobs", files={"file": ("a.wav", f)}, timeout=60))
    files = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietFiles, directory=str(audio_dir)))
    threading.Thread(target=files.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{files.server_address[1]}/weather.wav"
        _assert_disk_full(httpx.post(f"{live.url}/v1/jobs", files={"url": (None, url)}, timeout=60))
    finally:
        files.shutdown()
    assert list(audio.dir.iterdir()) == [audio.path(first["id"])]  # no copy or download left half-done
    assert httpx.get(f"{live.url}/v1/jobs?limit=100").json()["data"] == [first]


class _QuietFiles(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def test_a_job_decoding_into_a_full_spool_fails_with_disk_full(
    make_server: Callable[..., LiveServer], audio_dir: Path, tmpfs: Callable[[str, str], Path]
) -> None:
    spool = tmpfs("spool", "96k")  # the 56 KB Ogg is accepted; the worker's 137 KB of PCM do not fit
    live = make_server(SPOOL_DIR=spool, JOBS_WORKERS=1)
    job = submit(live.url, audio_dir / "weather.ogg")
    failed = wait_finished(live.url, job["id"])
    assert failed["status"] == "failed" and failed["error"]["code"] == "disk_full", failed["error"]
    assert _files_under(spool) == [] and live.state.spool.used_bytes == 0


def test_a_job_store_on_a_full_disk(
    make_server: Callable[..., LiveServer], audio_dir: Path, tmpfs: Callable[[str, str], Path]
) -> None:
    jobs = tmpfs("jobs", "512k")
    live = make_server(JOBS_DIR=jobs, JOBS_WORKERS=0)
    first = submit(live.url, audio_dir / "weather.wav")
    page = os.statvfs(jobs).f_frsize
    room = -(-(audio_dir / "weather.wav").stat().st_size // page) * page  # the audio's pages, no more
    (jobs / "filler").write_bytes(bytes(os.statvfs(jobs).f_bavail * page - room))
    with (audio_dir / "weather.wav").open("rb") as f:  # its audio fits; the store's next write does not
        _assert_disk_full(httpx.post(f"{live.url}/v1/jobs", files={"file": ("a.wav", f)}, timeout=60))
    audio = live.app.state.jobs.audio
    assert list(audio.dir.iterdir()) == [audio.path(first["id"])]
    (jobs / "filler").unlink()
    assert httpx.get(f"{live.url}/v1/jobs").json()["data"] == [first]


def test_job_calls_that_write_to_a_full_store_disk_are_503(
    make_server: Callable[..., LiveServer], audio_dir: Path, tmpfs: Callable[[str, str], Path]
) -> None:
    """Not only the submission: cancelling and deleting a job write to the store too."""
    jobs = tmpfs("jobs", "512k")
    live = make_server(JOBS_DIR=jobs, JOBS_WORKERS=0)
    job = submit(live.url, audio_dir / "weather.wav")
    page = os.statvfs(jobs).f_frsize
    (jobs / "filler").write_bytes(bytes(os.statvfs(jobs).f_bavail * page))  # not a page left
    _assert_disk_full(httpx.post(f"{live.url}/v1/jobs/{job['id']}/cancel", timeout=60))
    _assert_disk_full(httpx.delete(f"{live.url}/v1/jobs/{job['id']}", timeout=60))
    (jobs / "filler").unlink()
    assert httpx.get(f"{live.url}/v1/jobs/{job['id']}").json()["status"] == "queued"
