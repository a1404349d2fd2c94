"""SpoolDir: unique private files, stale cleanup, and per-request removal in every outcome."""

from __future__ import annotations

import asyncio
import stat
import tempfile
from pathlib import Path

import pytest

from gigaam_api.audio.spool import PREFIX, SpoolDir, SpoolFullError


def test_default_directory_is_under_the_system_temp_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))

    spool_dir = SpoolDir()

    assert spool_dir.path == tmp_path / "gigaam-api-spool"
    assert spool_dir.path.is_dir()


def test_new_file_is_empty_private_and_unique(tmp_path: Path) -> None:
    spool_dir = SpoolDir(tmp_path / "spool")

    first = spool_dir.new_file(".upload")
    second = spool_dir.new_file(".upload")

    assert first != second
    assert first.parent == spool_dir.path
    assert first.name.startswith(PREFIX)
    assert first.name.endswith(".upload")
    assert first.stat().st_size == 0
    assert stat.S_IMODE(first.stat().st_mode) == 0o600


def test_cleanup_stale_removes_only_our_files(tmp_path: Path) -> None:
    spool_dir = SpoolDir(tmp_path)
    leftovers = [spool_dir.new_file(), spool_dir.new_file(".pcm")]
    foreign = tmp_path / "someone-else.txt"
    foreign.write_text("keep me")

    assert spool_dir.cleanup_stale() == 2

    assert not any(path.exists() for path in leftovers)
    assert foreign.exists()
    assert spool_dir.cleanup_stale() == 0


def test_request_files_are_removed_on_success(tmp_path: Path) -> None:
    spool_dir = SpoolDir(tmp_path)

    with spool_dir.files() as files:
        upload = files.new(".upload")
        pcm = files.new(".pcm")
        upload.write_bytes(b"data")
        assert upload.exists()
        assert pcm.exists()

    assert list(tmp_path.iterdir()) == []


def test_request_files_are_removed_on_exception(tmp_path: Path) -> None:
    spool_dir = SpoolDir(tmp_path)

    def failing_request() -> None:
        with spool_dir.files() as files:
            files.new(".upload")
            raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        failing_request()

    assert list(tmp_path.iterdir()) == []


def test_request_files_are_removed_on_cancellation(tmp_path: Path) -> None:
    spool_dir = SpoolDir(tmp_path)

    async def handler(created: asyncio.Event) -> None:
        with spool_dir.files() as files:
            files.new(".upload")
            created.set()
            await asyncio.Event().wait()

    async def cancel_midway() -> None:
        created = asyncio.Event()
        task = asyncio.create_task(handler(created))
        await created.wait()
        assert len(list(tmp_path.iterdir())) == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel_midway())

    assert list(tmp_path.iterdir()) == []


def test_removal_is_idempotent(tmp_path: Path) -> None:
    spool_dir = SpoolDir(tmp_path)

    with spool_dir.files() as files:
        files.new().unlink()  # already gone, e.g. removed by its user
        files.new()
        files.remove_all()
        files.remove_all()

    assert list(tmp_path.iterdir()) == []


def test_charges_are_bounded_by_the_budget_and_refunded_on_removal(tmp_path: Path) -> None:
    spool_dir = SpoolDir(tmp_path, max_bytes=100)

    with spool_dir.files() as first:
        first.charge(60)
        with spool_dir.files() as second:
            with pytest.raises(SpoolFullError):
                second.charge(41)
            second.charge(40)
            assert spool_dir.used_bytes == 100
        assert spool_dir.used_bytes == 60
    assert spool_dir.used_bytes == 0
