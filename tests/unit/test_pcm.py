"""PcmSpool: windows read back exactly what was appended, and waiters always wake up."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from gigaam_api.audio.pcm import PcmSpool


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[PcmSpool]:
    with PcmSpool(tmp_path / "pcm") as spool:
        yield spool


def ramp(start: int, stop: int) -> npt.NDArray[np.int16]:
    return (np.arange(start, stop) % 65536 - 32768).astype(np.int16)


def as_float(samples: npt.NDArray[np.int16]) -> npt.NDArray[np.float32]:
    return samples.astype(np.float32) / np.float32(32768)


def waiter(spool: PcmSpool, n_samples: int) -> tuple[threading.Thread, list[int]]:
    returned: list[int] = []
    thread = threading.Thread(target=lambda: returned.append(spool.wait_for(n_samples)))
    thread.start()
    return thread, returned


def test_read_returns_float32_windows_of_appended_samples(spool: PcmSpool) -> None:
    spool.append(ramp(0, 1000))
    spool.append(ramp(1000, 2500))

    window = spool.read(900, 1100)

    assert window.dtype == np.float32
    np.testing.assert_array_equal(window, as_float(ramp(900, 1100)))
    assert spool.available == 2500


def test_read_clips_to_available_samples(spool: PcmSpool) -> None:
    spool.append(ramp(0, 100))

    np.testing.assert_array_equal(spool.read(50, 10_000), as_float(ramp(50, 100)))
    assert spool.read(200, 300).size == 0
    assert spool.read(-5, 3).size == 3


def test_full_scale_maps_into_minus_one_to_one(spool: PcmSpool) -> None:
    spool.append(np.array([-32768, 0, 32767], dtype=np.int16))

    window = spool.read(0, 3)

    assert window[0] == -1.0
    assert window[1] == 0.0
    assert 0.999 < window[2] < 1.0


def test_total_is_known_only_after_a_successful_finish(spool: PcmSpool) -> None:
    spool.append(ramp(0, 10))
    assert spool.total is None
    assert not spool.finished

    spool.finish()

    assert spool.finished
    assert spool.total == 10
    assert spool.error is None


def test_append_after_finish_is_refused(spool: PcmSpool) -> None:
    spool.finish()

    with pytest.raises(RuntimeError):
        spool.append(ramp(0, 10))


def test_first_finish_wins(spool: PcmSpool) -> None:
    error = ValueError("bad audio")
    spool.finish(error)
    spool.finish()

    assert spool.error is error
    assert spool.total is None


def test_wait_for_returns_at_once_when_enough_samples(spool: PcmSpool) -> None:
    spool.append(ramp(0, 500))

    assert spool.wait_for(400) == 500


def test_wait_for_gives_up_after_timeout(spool: PcmSpool) -> None:
    spool.append(ramp(0, 5))

    assert spool.wait_for(1000, timeout=0.01) == 5


def test_wait_for_wakes_when_samples_arrive(spool: PcmSpool) -> None:
    thread, returned = waiter(spool, 300)

    spool.append(ramp(0, 100))
    spool.append(ramp(100, 400))
    thread.join(timeout=10)

    assert not thread.is_alive()
    assert returned[0] >= 300


def test_wait_for_wakes_on_finish(spool: PcmSpool) -> None:
    thread, returned = waiter(spool, 10**9)

    spool.append(ramp(0, 100))
    spool.finish()
    thread.join(timeout=10)

    assert not thread.is_alive()
    assert returned == [100]


def test_wait_for_wakes_when_the_writer_fails(spool: PcmSpool) -> None:
    thread, returned = waiter(spool, 10**9)
    error = RuntimeError("decoder died")

    spool.finish(error)
    thread.join(timeout=10)

    assert not thread.is_alive()
    assert returned == [0]
    assert spool.error is error


def test_reader_sees_every_sample_while_the_writer_appends(spool: PcmSpool) -> None:
    total, block, window = 200_000, 3_001, 16_000
    expected = ramp(0, total)

    def write() -> None:
        for start in range(0, total, block):
            spool.append(expected[start : start + block])
        spool.finish()

    writer = threading.Thread(target=write)
    writer.start()
    windows: list[npt.NDArray[np.float32]] = []
    position = 0
    while True:
        available = spool.wait_for(position + window)
        windows.append(spool.read(position, position + window))
        position = min(position + window, available)
        if spool.finished and position == spool.available:
            break
    writer.join(timeout=10)

    np.testing.assert_array_equal(np.concatenate(windows), as_float(expected))
    assert spool.total == total
