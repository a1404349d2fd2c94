"""SpoolDir: per-instance directories, unique private files, stale cleanup, per-request removal."""

from __future__ import annotations

import asyncio
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from gigaam_api.audio.spool import INSTANCE_PREFIX, PREFIX, SpoolDir, SpoolFullError, remove_stale


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


# A process that claims a spool in argv[1], writes a file in it, reports the directory, then either holds
# it until its stdin closes or (argv[2] == "die") ends without releasing anything, as a crash would.
CLAIMER = """
import os, sys
from pathlib import Path
from gigaam_api.audio.spool import SpoolDir
spool = SpoolDir.claim(Path(sys.argv[1]))
spool.new_file(".pcm").write_bytes(b"in flight")
print(spool.path, flush=True)
if sys.argv[2] == "die":
    os._exit(0)
sys.stdin.read()
spool.close()
"""


def _claim_in_process(root: Path, mode: str) -> tuple[subprocess.Popen[str], Path]:
    process = subprocess.Popen(
        [sys.executable, "-c", CLAIMER, str(root), mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    return process, Path(process.stdout.readline().strip())


def test_claimed_spool_is_private_and_removed_with_everything_on_close(tmp_path: Path) -> None:
    with SpoolDir.claim(tmp_path, max_bytes=10) as spool:
        assert spool.path.parent == tmp_path
        assert spool.path.name.startswith(INSTANCE_PREFIX)
        assert stat.S_IMODE(spool.path.stat().st_mode) == 0o700
        assert spool.max_bytes == 10
        spool.new_file(".upload").write_bytes(b"left behind by a request")

    assert list(tmp_path.iterdir()) == []


def test_remove_stale_spares_live_instances_and_clears_dead_ones(tmp_path: Path) -> None:
    live, live_dir = _claim_in_process(tmp_path, "hold")
    dead, dead_dir = _claim_in_process(tmp_path, "die")
    dead.wait(timeout=30)
    legacy = [SpoolDir(tmp_path).new_file(".pcm"), SpoolDir(tmp_path).new_file(".upload")]
    foreign = tmp_path / "someone-else.txt"
    foreign.write_text("keep me")
    try:
        with SpoolDir.claim(tmp_path) as mine:
            assert remove_stale(tmp_path) == 3  # the dead instance's directory and two legacy files

            assert [p.read_bytes() for p in live_dir.iterdir()] == [b"in flight"]
            assert mine.path.is_dir()
            assert not dead_dir.exists()
            assert not any(path.exists() for path in legacy)
            assert foreign.exists()
            assert remove_stale(tmp_path) == 0
    finally:
        live.communicate("", timeout=30)
    assert not live_dir.exists()


def test_two_spools_of_one_process_spare_each_other(tmp_path: Path) -> None:
    with SpoolDir.claim(tmp_path) as first, SpoolDir.claim(tmp_path) as second:
        first.new_file().write_bytes(b"1")

        assert remove_stale(tmp_path) == 0

        assert first.path != second.path
        assert len(list(first.path.iterdir())) == 1


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


def test_a_reservation_holds_the_budget_and_writes_draw_on_it(tmp_path: Path) -> None:
    spool = SpoolDir(tmp_path, max_bytes=100)
    with spool.files() as first, spool.files() as second:
        first.reserve(80)  # an upload and its expected decoded audio
        with pytest.raises(SpoolFullError):
            second.reserve(30)  # refused at once, not part-way through
        assert spool.used_bytes == 80
        first.charge(50)  # within the reservation: nothing more is taken
        assert spool.used_bytes == 80
        first.expect(10)  # the decoder learnt the duration: 20 given back
        assert spool.used_bytes == 60
        second.charge(30)
        first.charge(15)  # 10 from the reservation, 5 more from the budget
        assert spool.used_bytes == 95
        first.expect(50)  # cannot grow past the budget: left as it is
        first.reserve(0)  # decoded: nothing more is held
        assert spool.used_bytes == 95
    assert spool.used_bytes == 0
