"""A real Redis frozen (SIGSTOP) and then killed under a real server: the jobs API answers 503
`store_unavailable` with Retry-After, while plain transcriptions, /health and /metrics keep answering.

Nothing here is timed: a frozen Redis stays frozen until the test sends SIGCONT, so every request made
meanwhile meets a hung store; the clients' timeouts are generous (the server's own is a few seconds).
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from gigaam_api.app import build_transcriber
from gigaam_api.config import Settings
from gigaam_api.engines.base import ASREngine
from tests.fixtures.engines import WatchedEngine
from tests.fixtures.jobs import submit, wait_finished
from tests.fixtures.live_server import LiveServer, start_server
from tests.fixtures.redis_server import redis_process
from tests.fixtures.waiting import HANG_GUARD_SECONDS, wait_until

CLIENT_TIMEOUT = 60  # far above the server's JOBS_STORE_TIMEOUT_SECONDS; the old code hung 30 s, then 500


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A Redis of this test's own: it is frozen and killed (the session's is shared)."""
    with redis_process(tmp_path) as running:
        yield running


def _assert_store_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert int(response.headers["retry-after"]) > 0
    error = response.json()["error"]
    assert error["code"] == "store_unavailable" and error["type"] == "server_error"
    assert "redis" not in response.text.lower() and "Traceback" not in response.text


def _jobs_routes(live: LiveServer, job_id: str, audio: Path) -> list[httpx.Response]:
    """One request to every jobs route, at once: more than the default thread pool's workers."""
    base = f"{live.url}/v1/jobs"

    def upload() -> httpx.Response:
        with audio.open("rb") as f:
            return httpx.post(base, files={"file": (audio.name, f)}, timeout=CLIENT_TIMEOUT)

    calls: list[Callable[[], httpx.Response]] = [
        upload,
        lambda: httpx.get(base, timeout=CLIENT_TIMEOUT),
        lambda: httpx.get(f"{base}/{job_id}/events", timeout=CLIENT_TIMEOUT),
        lambda: httpx.get(f"{base}/{job_id}/result", timeout=CLIENT_TIMEOUT),
        lambda: httpx.post(f"{base}/{job_id}/cancel", timeout=CLIENT_TIMEOUT),
        lambda: httpx.delete(f"{base}/{job_id}", timeout=CLIENT_TIMEOUT),
        *[lambda: httpx.get(f"{base}/{job_id}", timeout=CLIENT_TIMEOUT)] * 12,
    ]
    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(lambda call: call(), calls))


def _transcribe(live: LiveServer, audio: Path) -> str:
    with audio.open("rb") as f:
        text: str = live.client(timeout=CLIENT_TIMEOUT).audio.transcriptions.create(
            model="gigaam-v3-ctc", file=f, response_format="text"
        )
    return text


def _store_state(live: LiveServer) -> Any:
    health = httpx.get(f"{live.url}/health", timeout=CLIENT_TIMEOUT)
    assert health.status_code == 200
    return health.json()["jobs_store"]


def _store_up(live: LiveServer) -> float:
    metrics = httpx.get(f"{live.url}/metrics", timeout=CLIENT_TIMEOUT)
    assert metrics.status_code == 200
    line = next(x for x in metrics.text.splitlines() if x.startswith("gigaam_jobs_store_up "))
    return float(line.split()[1])


def test_a_frozen_then_killed_redis_is_a_503_and_transcriptions_go_on(
    make_server: Callable[..., LiveServer],
    audio_dir: Path,
    own_redis: tuple[str, subprocess.Popen[bytes]],
) -> None:
    url, redis = own_redis
    live = make_server(JOBS_REDIS_URL=url)
    audio = audio_dir / "weather.wav"
    job = submit(live.url, audio)
    assert wait_finished(live.url, job["id"])["status"] == "succeeded"
    expected = _transcribe(live, audio)
    assert _store_state(live) == {"backend": "redis", "state": "ok"} and _store_up(live) == 1
    kept_audio = set(live.app.state.jobs.audio.dir.iterdir())

    redis.send_signal(signal.SIGSTOP)
    try:
        for response in _jobs_routes(live, job["id"], audio):
            _assert_store_unavailable(response)
        assert _transcribe(live, audio) == expected  # the store's calls hold none of its threads
        assert _store_state(live) == {"backend": "redis", "state": "unavailable"}
        assert _store_up(live) == 0
        # The refused submission's audio stays: the frozen store may still commit its job.
        assert len(set(live.app.state.jobs.audio.dir.iterdir()) - kept_audio) <= 1
    finally:
        redis.send_signal(signal.SIGCONT)

    wait_until(
        lambda: httpx.get(f"{live.url}/v1/jobs/{job['id']}", timeout=CLIENT_TIMEOUT).status_code == 200,
        "the jobs API answers again once Redis does",
    )
    # Once the store answers, the leftover sweep keeps exactly the audio of jobs it has.
    jobs = live.app.state.jobs
    jobs.audio.sweep_leftovers(jobs.store.backend.exists, older_than=time.time() + 1)
    remaining = set(jobs.audio.dir.iterdir())
    assert kept_audio <= remaining
    assert all(jobs.store.backend.exists(path.stem) for path in remaining)
    assert _store_state(live)["state"] == "ok" and _store_up(live) == 1

    redis.kill()
    redis.wait(timeout=30)
    for response in _jobs_routes(live, job["id"], audio):
        _assert_store_unavailable(response)
    assert _transcribe(live, audio) == expected
    assert _store_state(live)["state"] == "unavailable" and _store_up(live) == 0


def test_a_store_outage_at_hand_back_still_stops_the_workers(
    settings_factory: Callable[..., Settings],
    audio_dir: Path,
    own_redis: tuple[str, subprocess.Popen[bytes]],
) -> None:
    """A draining server hands its running job back; with the store gone that write fails, and the
    worker must stop all the same (it swallowed its cancellation, kept claiming, and never stopped)."""
    url, redis = own_redis
    engines: list[WatchedEngine] = []

    def wrap(engine: ASREngine) -> ASREngine:
        engines.append(WatchedEngine(engine, gated=True))
        return engines[0]

    settings = settings_factory(JOBS_REDIS_URL=url, JOBS_WORKERS=1)
    live = start_server(settings, factory=partial(build_transcriber, wrap_engine=wrap))
    try:
        submit(live.url, audio_dir / "weather.wav")
        assert engines[0].started.wait(HANG_GUARD_SECONDS), "the job's batch never reached the engine"
        redis.kill()
        redis.wait(timeout=30)
        jobs = live.app.state.jobs
        live.state.shutdown.begin(lambda: None)  # SIGTERM: the drain hands running jobs back
        wait_until(lambda: live.state.shutdown.draining, "the drain has begun (the job is cancelled)")
        engines[0].gate.set()
        wait_until(lambda: jobs._loops is not None and jobs._loops.done(), "the job loops have stopped")
    finally:
        engines[0].gate.set()
        live.stop()
