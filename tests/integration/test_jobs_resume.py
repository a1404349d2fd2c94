"""A server killed with SIGKILL mid-job: the job is finished from its last stored segment, by the restarted
server (embedded SQLite) or by another replica (Redis), and the transcript equals an uninterrupted run.

The killed server runs only its first batches (`tests.fixtures.limited_serve`), so "mid-job" holds on
any machine; BATCH_SECONDS=1 makes every chunk its own batch, so each one is a stored checkpoint.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from gigaam_api.config import Settings
from gigaam_api.jobs.backend import open_store
from tests.fixtures.job_servers import batches_run
from tests.fixtures.jobs import submit, wait_finished, wait_for_job
from tests.fixtures.processes import Served, free_port, server_env
from tests.fixtures.speech import PAUSES, SENTENCES, long_speech, write_wav


@pytest.fixture(scope="module")
def meeting(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 90 seconds of speech in a dozen chunks."""
    audio, _ = long_speech(SENTENCES * 2, [*PAUSES * 2, 1.0])
    path = tmp_path_factory.mktemp("resume") / "meeting.wav"
    write_wav(path, audio)
    return path


def _result(served: Served, job_id: str) -> dict[str, Any]:
    response = httpx.get(
        f"{served.url}/v1/jobs/{job_id}/result",
        params={"response_format": "verbose_json", "timestamp_granularities[]": ["segment", "word"]},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _kill_mid_job(served: Served, meeting: Path) -> dict[str, Any]:
    """Submit, wait until the first batches are stored, SIGKILL the server; the job as last stored."""
    job = submit(served.url, meeting)
    stored = wait_for_job(
        served.url, job["id"], "has stored segments", lambda j: j["progress"]["segments"] >= 2
    )
    served.process.send_signal(signal.SIGKILL)
    served.process.wait(timeout=30)
    assert stored["status"] == "running"
    return stored


def _segments_stored(job_id: str, **store: str) -> int:
    """What the store holds for the job now, read from the store itself: the killed server may have
    stored another batch between the test's last look and the SIGKILL."""
    jobs = open_store(Settings(**store))  # type: ignore[arg-type]
    try:
        job = jobs.get(job_id)
        assert job is not None
        return job.segment_count
    finally:
        jobs.close()


def _check_resumed(finisher: Served, meeting: Path, job_id: str, stored_segments: int) -> None:
    done = wait_finished(finisher.url, job_id)
    assert done["status"] == "succeeded", done
    assert done["runs"] == 2  # claimed again after the lease of the killed server ran out
    resumed_batches = batches_run(finisher)
    resumed = _result(finisher, job_id)

    reference = submit(finisher.url, meeting)  # the same audio, uninterrupted
    assert wait_finished(finisher.url, reference["id"])["status"] == "succeeded"
    uninterrupted = _result(finisher, reference["id"])
    reference_batches = batches_run(finisher) - resumed_batches

    assert resumed == uninterrupted  # every segment: ids, times, text, tokens, words
    assert len(resumed["segments"]) > stored_segments
    # The resumed run skipped the stored part: it ran only the batches the killed server had not.
    assert resumed_batches < reference_batches
    assert resumed_batches == reference_batches - stored_segments


def test_embedded_restart_resumes_after_sigkill(
    servers: Callable[..., Served], meeting: Path, tmp_path: Path
) -> None:
    first = servers(batches=3)
    stored = _kill_mid_job(first, meeting)
    segments = _segments_stored(stored["id"], JOBS_DIR=str(tmp_path / "jobs"))
    restarted = servers()
    _check_resumed(restarted, meeting, stored["id"], segments)


def test_redis_replica_finishes_a_killed_replicas_job(
    servers: Callable[..., Served], meeting: Path, redis_url: str, tmp_path: Path
) -> None:
    redis.Redis.from_url(redis_url).flushdb()
    killed = servers(batches=3, JOBS_REDIS_URL=redis_url)
    stored, peer = _kill_mid_job_with_peer(killed, meeting, lambda: servers(JOBS_REDIS_URL=redis_url))
    # The peer is stopped (SIGSTOP) until the killed server's segments are counted: once the 3-s lease
    # lapsed it could claim the job and store a batch of its own before a slow test read them.
    try:
        segments = _segments_stored(stored["id"], JOBS_DIR=str(tmp_path / "jobs"), JOBS_REDIS_URL=redis_url)
    finally:
        peer.process.send_signal(signal.SIGCONT)
    _check_resumed(peer, meeting, stored["id"], segments)


def _kill_mid_job_with_peer(
    killed: Served, meeting: Path, start_peer: Callable[[], Served]
) -> tuple[dict[str, Any], Served]:
    """The peer starts once the job is running on `killed` (else it could take the job first), and is
    returned stopped (SIGSTOP): the caller continues it."""
    job = submit(killed.url, meeting)
    stored = wait_for_job(
        killed.url, job["id"], "has stored segments", lambda j: j["progress"]["segments"] >= 2
    )
    peer = start_peer()
    assert httpx.get(f"{peer.url}/v1/jobs/{job['id']}", timeout=10).json()["status"] == "running"
    peer.process.send_signal(signal.SIGSTOP)
    killed.process.send_signal(signal.SIGKILL)
    killed.process.wait(timeout=30)
    return stored, peer


def test_an_unreachable_redis_stops_the_start_with_one_message(models_dir: Path) -> None:
    env = server_env(
        MODELS_DIR=str(models_dir),
        OFFLINE="true",
        PORT=str(free_port()),
        JOBS_REDIS_URL=f"redis://:secret-password@127.0.0.1:{free_port()}/0",
    )
    result = subprocess.run(
        [sys.executable, "-m", "gigaam_api", "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert "JOBS_REDIS_URL" in result.stderr
    assert "Traceback" not in result.stderr and "secret-password" not in result.stderr
