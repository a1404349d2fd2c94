"""One inference scheduler per device: engines on one device take turns on its single worker (short
requests first, round-robin among long ones), engines on different devices never wait for each other."""

from __future__ import annotations

from collections.abc import Callable

from gigaam_api.pipeline.scheduler import InferenceScheduler


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
