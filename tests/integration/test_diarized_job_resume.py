"""A diarized job on a server killed mid-job (SIGKILL): it stored its progress and its first segments
(with the speakers found so far, which die with the run), and the restarted server runs it again from
zero, dropping them, to the result an uninterrupted diarized job gets. The servers are those of
test_jobs_resume.py, on the speaker models."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fixtures.conversations import FOUR, conversation
from tests.fixtures.job_servers import batches_run
from tests.fixtures.jobs import submit, wait_finished, wait_for_job
from tests.fixtures.processes import Served
from tests.fixtures.speech import write_wav

pytestmark = pytest.mark.integration


@pytest.fixture
def models_dir(speaker_models_dir: Path) -> Path:
    """`servers` serve the tiny GigaAM beside the GE2E speaker model."""
    return speaker_models_dir


def _result(served: Served, job_id: str) -> str:
    import httpx

    response = httpx.get(f"{served.url}/v1/jobs/{job_id}/result?response_format=diarized_json", timeout=30)
    assert response.status_code == 200, response.text
    return response.text


def test_a_killed_diarized_job_runs_again_from_zero(
    servers: Callable[..., Served],
    tmp_path: Path,
) -> None:
    audio, _ = conversation(*FOUR)  # about a minute: several VAD chunks, each its own batch
    path = write_wav(tmp_path / "four.wav", audio)

    first = servers(batches=2)
    job = submit(first.url, path, diarize="true")
    stored = wait_for_job(first.url, job["id"], "stored segments", lambda j: j["progress"]["segments"] > 0)
    first.process.send_signal(signal.SIGKILL)
    first.process.wait(timeout=30)
    assert stored["status"] == "running" and stored["progress"]["segments"] > 0  # stored as they come

    restarted = servers()
    done = wait_finished(restarted.url, job["id"])
    assert done["status"] == "succeeded" and done["runs"] == 2
    resumed_batches = batches_run(restarted)

    reference = submit(restarted.url, path, diarize="true")
    assert wait_finished(restarted.url, reference["id"])["status"] == "succeeded"
    assert _result(restarted, job["id"]) == _result(restarted, reference["id"])
    assert resumed_batches == batches_run(restarted) - resumed_batches  # every batch again: from zero
