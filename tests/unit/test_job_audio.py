"""Job audio on disk: downloads in progress count against JOBS_MAX_MB; leftovers nobody owns are swept."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from gigaam_api.errors import APIError
from gigaam_api.jobs.audio import JobAudio


def _write(path: Path, nbytes: int, *, age: float = 0.0) -> Path:
    path.write_bytes(bytes(nbytes))
    when = time.time() - age
    os.utime(path, (when, when))
    return path


def test_downloads_in_progress_hold_their_share_of_the_budget(tmp_path: Path) -> None:
    audio = JobAudio(tmp_path, max_bytes=1000)
    with (
        audio.download("job_a") as (first, reserve_first),
        audio.download("job_b") as (second, reserve),
    ):
        reserve_first(600)
        _write(first, 400)  # written bytes are on disk, the other 200 still reserved
        with pytest.raises(APIError) as full:
            reserve(500)
        assert full.value.status == 503 and full.value.code == "jobs_storage_full"
        reserve(400)
        _write(second, 400)
    assert audio.path("job_a").stat().st_size == 400 and audio.path("job_b").exists()


def test_a_failed_download_leaves_nothing(tmp_path: Path) -> None:
    audio = JobAudio(tmp_path, max_bytes=1000)

    def fails_half_way() -> None:
        with audio.download("job_a") as (partial, reserve):
            reserve(500)
            _write(partial, 100)
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk"):
        fails_half_way()
    assert list(audio.dir.iterdir()) == []
    with audio.download("job_b") as (partial, reserve):
        reserve(1000)  # the failed one's reservation is gone
        _write(partial, 10)


def test_leftovers_nobody_owns_are_swept_once_idle(tmp_path: Path) -> None:
    audio = JobAudio(tmp_path, max_bytes=10_000)
    day = 86_400.0
    owned = _write(audio.path("job_owned"), 10, age=day)
    orphan = _write(audio.path("job_lost"), 10, age=day)
    fresh_orphan = _write(audio.path("job_new"), 10)  # its job may be being stored right now
    dead_download = _write(audio.path("job_killed").with_suffix(".partial"), 10, age=day)
    with audio.download("job_live") as (live_download, reserve):
        reserve(10)
        _write(live_download, 10, age=day)  # a slow download of this process: still reserved
        removed = audio.sweep_leftovers(lambda job_id: job_id == "job_owned", older_than=time.time() - 60)
        assert removed == 2
        assert live_download.exists()
    assert sorted(p.name for p in audio.dir.iterdir()) == sorted(
        p.name for p in (owned, fresh_orphan, audio.path("job_live"))
    )
    assert not orphan.exists() and not dead_download.exists()


def test_known_speakers_clips_are_kept_with_the_job_within_the_budget_and_go_with_it(tmp_path: Path) -> None:
    audio = JobAudio(tmp_path / "jobs", max_bytes=1000)
    spool = tmp_path / "spool"
    spool.mkdir()
    clips = [_write(spool / f"{i}.reference", 100 + i) for i in range(3)]
    upload = _write(spool / "a.upload", 500)

    assert audio.adopt("job_a", upload, clips) == 500 + 100 + 101 + 102
    assert [p.stat().st_size for p in audio.reference_paths("job_a")] == [100, 101, 102]  # in order
    assert not any(spool.iterdir())

    # The budget counts the clips: a job whose clips do not fit is refused whole, nothing moved.
    other = [_write(spool / "big.reference", 150)]
    with pytest.raises(APIError) as full:
        audio.adopt("job_b", _write(spool / "b.upload", 50), other)
    assert full.value.code == "jobs_storage_full" and audio.reference_paths("job_b") == []
    assert not audio.path("job_b").exists()

    audio.remove("job_a")
    assert audio.reference_paths("job_a") == [] and not any(audio.dir.iterdir())


def test_clips_of_a_job_the_store_lost_are_swept_as_its_audio_is(tmp_path: Path) -> None:
    audio = JobAudio(tmp_path, max_bytes=10_000)
    kept = _write(audio.dir / "job_kept.ref0", 10, age=3600)
    lost = [_write(audio.dir / f"job_lost.ref{i}", 10, age=3600) for i in range(2)]

    assert audio.sweep_leftovers(lambda job_id: job_id == "job_kept", older_than=time.time() - 60) == 2
    assert kept.exists() and not any(p.exists() for p in lost)
