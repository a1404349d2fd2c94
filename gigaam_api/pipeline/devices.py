"""One inference scheduler per device: engines on one device take turns on its workers, one per inference
stream (short requests first, round-robin among long ones), engines on different devices never wait for
each other."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Literal

from gigaam_api.cpus import plan_streams
from gigaam_api.engines.base import Capabilities
from gigaam_api.pipeline.scheduler import InferenceScheduler


def streams_by_device(
    threads: int, requested: int | Literal["auto"], engines: Iterable[Capabilities]
) -> dict[str, int]:
    """Each device's inference streams for the engines served on it (NUM_THREADS, INFERENCE_STREAMS): a
    device keeps one stream when any of its engines cannot run two calls at once, as its calls would
    otherwise queue inside the engine where the scheduler's short-first order cannot reach them."""
    parallel: dict[str, bool] = {}
    for caps in engines:
        parallel[caps.device] = parallel.get(caps.device, True) and caps.parallel_calls
    return {
        device: plan_streams(threads, requested, parallel_calls=calls, cpu=device == "cpu").streams
        for device, calls in parallel.items()
    }


class DeviceSchedulers:
    """`make()` builds a device's scheduler the first time an engine on that device asks for one."""

    def __init__(self, make: Callable[[str], InferenceScheduler]) -> None:
        self._make = make
        self._schedulers: dict[str, InferenceScheduler] = {}

    def for_device(self, device: str) -> InferenceScheduler:
        if device not in self._schedulers:
            self._schedulers[device] = self._make(device)
        return self._schedulers[device]

    @property
    def batches_run(self) -> int:
        return sum(s.batches_run for s in self._schedulers.values())

    def stop(self) -> None:
        for scheduler in self._schedulers.values():
            scheduler.stop()
