"""How many CPUs this process may use (affinity and cgroup CPU quota), and how to split them into streams.

`os.cpu_count()` counts the host's CPUs, not this process's: a container started with `cpus: 2.5` on a
16-core host, or a service pinned with `taskset`, would start 16 inference threads that the kernel then
throttles or crowds onto fewer cores. The parsing and the arithmetic are pure functions over the
affinity set's size and the cgroup files' contents; `usable_cpus()` alone reads the machine.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

CGROUP_ROOT: Final = Path("/sys/fs/cgroup")
# cgroup v1 mounts the cpu controller under one of these names (alone or joined with cpuacct).
_V1_CPU_DIRS: Final = ("cpu", "cpu,cpuacct", "cpuacct,cpu")


def quota_from_cpu_max(text: str) -> float | None:
    """cgroup v2 `cpu.max` ("<quota> <period>" in µs, quota `max` = unlimited) → CPUs, None if unlimited."""
    fields = text.split()
    if not fields or fields[0] == "max":
        return None
    period = int(fields[1]) if len(fields) > 1 else 100_000  # the kernel's default period
    return _quota(int(fields[0]), period)


def quota_from_cfs(quota_us: str, period_us: str) -> float | None:
    """cgroup v1 `cpu.cfs_quota_us` (-1 = unlimited) and `cpu.cfs_period_us` → CPUs, None if unlimited."""
    return _quota(int(quota_us.strip()), int(period_us.strip()))


def _quota(quota: int, period: int) -> float | None:
    return quota / period if quota > 0 and period > 0 else None


def cpus_allowed(affinity: int, quotas: Iterable[float | None]) -> int:
    """The inference threads for `affinity` CPUs under the tightest of `quotas` (None = no limit).

    A fractional quota rounds down (2.5 → 2): threads that work in lock-step stall together when the
    kernel throttles one of them, and the spare fraction serves the VAD, decoding and HTTP threads.
    Never below 1, so a quota under one CPU still runs (slowly).
    """
    limits = [q for q in quotas if q is not None]
    quota_cpus = math.floor(min(limits)) if limits else affinity
    return max(1, min(affinity, quota_cpus))


def cgroup_dirs(proc_self_cgroup: str, root: Path = CGROUP_ROOT) -> list[Path]:
    """Each cgroup directory whose CPU quota limits this process, from `/proc/self/cgroup`'s text:
    its own and every ancestor's (a parent's quota caps its children), for v2 and for v1's cpu controller.
    In a container with its own cgroup namespace these are the root directories themselves."""
    dirs: list[Path] = []
    for line in proc_self_cgroup.splitlines():
        hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if not hierarchy:
            continue
        if hierarchy == "0" and controllers == "":
            bases = [root, root / "unified"]  # unified alone, or hybrid (v1 controllers beside it)
        elif "cpu" in controllers.split(","):
            bases = [root / name for name in _V1_CPU_DIRS]
        else:
            continue
        parts = [p for p in path.split("/") if p]
        for base in bases:
            dirs += [base.joinpath(*parts[:depth]) for depth in range(len(parts), -1, -1)]
    return dirs


def read_quotas(dirs: Iterable[Path]) -> list[float | None]:
    """The CPU quota in each directory that has one (v2 `cpu.max` or v1 `cpu.cfs_*`); missing files and
    unreadable contents count as no limit."""
    quotas: list[float | None] = []
    for directory in dirs:
        try:
            if (directory / "cpu.max").is_file():
                quotas.append(quota_from_cpu_max((directory / "cpu.max").read_text()))
            elif (directory / "cpu.cfs_quota_us").is_file():
                quota = (directory / "cpu.cfs_quota_us").read_text()
                quotas.append(quota_from_cfs(quota, (directory / "cpu.cfs_period_us").read_text()))
        except (OSError, ValueError):
            continue
    return quotas


def usable_cpus() -> int:
    """This process's CPUs: its affinity set, capped by its cgroups' CPU quotas (see `cpus_allowed`)."""
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:  # no affinity API (macOS)
        affinity = os.cpu_count() or 1
    try:
        own = Path("/proc/self/cgroup").read_text()
    except OSError:
        own = ""
    return cpus_allowed(affinity, read_quotas(cgroup_dirs(own)))


# Streams (docs/decisions.md): a stream is one inference at a time on its own share of the threads.
# Each keeps at least this many, so one stream's matrix products still scale and a job alone loses at
# most the step from these threads to all of them; up to 15 threads therefore stay one stream, as before.
MIN_THREADS_PER_STREAM: Final = 8
# `auto` stops here: more streams than long runs at once (JOBS_WORKERS is 2) leave cores idle while
# still cutting each run's threads, and every stream holds its own activations.
MAX_AUTO_STREAMS: Final = 4


@dataclass(frozen=True, slots=True)
class StreamPlan:
    """`streams` inferences at once, each on `threads` threads."""

    streams: int
    threads: int


def plan_streams(
    threads: int, requested: int | Literal["auto"], *, parallel_calls: bool, cpu: bool = True
) -> StreamPlan:
    """How to split `threads` (NUM_THREADS: by default the usable CPUs) into inference streams.

    `requested`: INFERENCE_STREAMS, a count or `auto` (one stream per MIN_THREADS_PER_STREAM threads, at
    most MAX_AUTO_STREAMS). An engine that cannot run two calls at once (`parallel_calls` false) and a
    GPU (`cpu` false: it queues the calls itself) get one stream with every thread. Never more streams
    than threads; leftover threads of an uneven split stay unused rather than unbalance the streams.
    """
    if not parallel_calls or not cpu:
        return StreamPlan(1, threads)
    wanted = min(MAX_AUTO_STREAMS, threads // MIN_THREADS_PER_STREAM) if requested == "auto" else requested
    streams = max(1, min(wanted, threads))
    return StreamPlan(streams, threads // streams)
