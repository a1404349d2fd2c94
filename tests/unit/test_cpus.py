"""The CPUs a process may use, on made-up machines."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gigaam_api import cpus
from gigaam_api.config import load_settings
from gigaam_api.cpus import (
    cgroup_dirs,
    cpus_allowed,
    quota_from_cfs,
    quota_from_cpu_max,
    read_quotas,
)


@pytest.mark.parametrize(
    ("text", "quota"),
    [("max 100000\n", None), ("50000 100000\n", 0.5), ("250000 100000\n", 2.5), ("200000", 2.0), ("", None)],
)
def test_cgroup_v2_cpu_max(text: str, quota: float | None) -> None:
    assert quota_from_cpu_max(text) == quota


@pytest.mark.parametrize(
    ("quota_us", "period_us", "quota"),
    [("-1\n", "100000\n", None), ("50000\n", "100000\n", 0.5), ("250000", "100000", 2.5)],
)
def test_cgroup_v1_cfs(quota_us: str, period_us: str, quota: float | None) -> None:
    assert quota_from_cfs(quota_us, period_us) == quota


@pytest.mark.parametrize(
    ("affinity", "quotas", "threads"),
    [
        (1, [], 1),
        (2, [], 2),
        (4, [None], 4),
        (16, [], 16),
        (16, [0.5], 1),  # under one CPU: one thread, never zero
        (16, [2.5], 2),  # fractions round down
        (2, [2.5], 2),  # the affinity set is the tighter limit
        (16, [None, 8.0, 4.0], 4),  # a parent's quota caps its child's
        (4, [16.0], 4),
    ],
)
def test_cpus_allowed(affinity: int, quotas: list[float | None], threads: int) -> None:
    assert cpus_allowed(affinity, quotas) == threads


def _write(path: Path, **files: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (path / name.replace("cpu_", "cpu.", 1)).write_text(text)  # cpu_max -> cpu.max


def test_cgroup_v2_in_a_container(tmp_path: Path) -> None:
    """Own cgroup namespace (`0::/`): the quota is the root directory's `cpu.max`."""
    _write(tmp_path, cpu_max="250000 100000\n")
    dirs = cgroup_dirs("0::/\n", tmp_path)
    assert cpus_allowed(16, read_quotas(dirs)) == 2


def test_cgroup_v2_service_under_a_limited_slice(tmp_path: Path) -> None:
    """A systemd service with no quota of its own inside a slice limited to 4 CPUs."""
    _write(tmp_path / "app.slice", cpu_max="400000 100000\n")
    _write(tmp_path / "app.slice" / "gigaam.service", cpu_max="max 100000\n")
    dirs = cgroup_dirs("0::/app.slice/gigaam.service\n", tmp_path)
    assert cpus_allowed(16, read_quotas(dirs)) == 4


def test_cgroup_v1_cpu_controller(tmp_path: Path) -> None:
    own = "12:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n1:name=systemd:/docker/abc\n"
    _write(tmp_path / "cpu,cpuacct", cpu_cfs_quota_us="-1\n", cpu_cfs_period_us="100000\n")
    _write(
        tmp_path / "cpu,cpuacct" / "docker" / "abc", cpu_cfs_quota_us="50000\n", cpu_cfs_period_us="100000\n"
    )
    assert cpus_allowed(4, read_quotas(cgroup_dirs(own, tmp_path))) == 1


def test_cgroup_v1_mounted_as_the_containers_own(tmp_path: Path) -> None:
    """Without a cgroup namespace the path names the host's cgroup, but the mount is the container's."""
    _write(tmp_path / "cpu", cpu_cfs_quota_us="300000\n", cpu_cfs_period_us="100000\n")
    assert cpus_allowed(16, read_quotas(cgroup_dirs("3:cpu:/docker/abc\n", tmp_path))) == 3


def test_missing_or_unreadable_files_are_no_limit(tmp_path: Path) -> None:
    _write(tmp_path / "unified", cpu_max="garbage\n")
    _write(tmp_path / "cpu", cpu_cfs_quota_us="100000\n")  # no period file beside it
    own = "0::/\n1:cpu:/\n"
    assert read_quotas(cgroup_dirs(own, tmp_path)) == []
    assert cpus_allowed(2, read_quotas(cgroup_dirs("", tmp_path))) == 2


def test_num_threads_defaults_to_the_usable_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    """6 CPUs in the affinity set under a 3.5-CPU quota: 3 threads; NUM_THREADS still overrides."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(6)))
    monkeypatch.setattr(cpus, "read_quotas", lambda dirs: [None, 3.5])
    monkeypatch.delenv("NUM_THREADS", raising=False)
    assert load_settings(_env_file=None).NUM_THREADS == 3
    monkeypatch.setenv("NUM_THREADS", "5")
    assert load_settings(_env_file=None).NUM_THREADS == 5
