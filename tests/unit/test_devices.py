"""Engines on one device share its scheduler; engines on different devices do not wait for each other."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from gigaam_api.pipeline.devices import DeviceSchedulers
from gigaam_api.pipeline.scheduler import InferenceScheduler

WAIT = 10  # seconds: a bound on thread hand-offs, never a timing assertion


@pytest.fixture
def schedulers() -> Iterator[DeviceSchedulers]:
    made: list[str] = []

    def make(device: str) -> InferenceScheduler:
        made.append(device)
        return InferenceScheduler()

    devices = DeviceSchedulers(make)
    yield devices
    devices.stop()


def test_one_scheduler_per_device(schedulers: DeviceSchedulers) -> None:
    cpu = schedulers.for_device("cpu")
    assert schedulers.for_device("cpu") is cpu
    assert schedulers.for_device("cuda") is not cpu


def test_a_batch_held_on_the_gpu_does_not_block_the_cpu(schedulers: DeviceSchedulers) -> None:
    gate, holding = threading.Event(), threading.Event()

    def held() -> str:
        holding.set()
        assert gate.wait(WAIT)
        return "gpu"

    gpu, cpu = schedulers.for_device("cuda"), schedulers.for_device("cpu")
    long_job = gpu.open_ticket(interactive=False)
    held_future = gpu.submit(long_job, held)
    assert holding.wait(WAIT)

    cpu_job = cpu.open_ticket(interactive=True)
    assert cpu.submit(cpu_job, lambda: "cpu").result(timeout=WAIT) == "cpu"  # while the GPU is held

    gate.set()
    assert held_future.result(timeout=WAIT) == "gpu"
    assert schedulers.batches_run == 2


def test_engines_on_one_device_take_turns_short_requests_first(schedulers: DeviceSchedulers) -> None:
    """Two engines' jobs on one device: a short request waits for the running batch only."""
    gate, holding = threading.Event(), threading.Event()
    ran: list[str] = []

    def work(name: str) -> None:
        if name == "long-1":
            holding.set()
            assert gate.wait(WAIT)
        ran.append(name)

    device = schedulers.for_device("cpu")
    long_job = device.open_ticket(interactive=False)  # e.g. a long Qwen3-ASR transcription
    futures = [device.submit(long_job, lambda n=f"long-{i}": work(n)) for i in (1, 2, 3)]  # type: ignore[misc]
    assert holding.wait(WAIT)
    short_job = device.open_ticket(interactive=True)  # e.g. a short GigaAM request, queued later
    futures.append(device.submit(short_job, lambda: work("short")))
    gate.set()
    for future in futures:
        future.result(timeout=WAIT)

    assert ran == ["long-1", "short", "long-2", "long-3"]
