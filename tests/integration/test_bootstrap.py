"""`make` from a fresh checkout on this machine's stock Python (Debian's /usr/bin/python3, which PEP 668
marks EXTERNALLY-MANAGED) with a minimal PATH: uv is bootstrapped into the checkout, never into that Python.

pip fetches uv from the package index the machine's pip configuration names, as it would for a user."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from tests.fixtures.processes import Served, free_port

ROOT = Path(__file__).resolve().parents[2]
STOCK_PYTHON = "/usr/bin/python3"
MINIMAL_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


def _python_path(name: str) -> Path:
    code = f"import sysconfig; print(sysconfig.get_path({name!r}))"
    return Path(
        subprocess.run([STOCK_PYTHON, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    )


def _listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.is_dir() else []


@pytest.fixture(scope="module")
def stock_purelib() -> Path:
    """Where `pip install` on the stock Python would put uv; that Python must be the PEP 668 case."""
    assert (_python_path("stdlib") / "EXTERNALLY-MANAGED").is_file(), (
        f"{STOCK_PYTHON} is not externally managed"
    )
    return _python_path("purelib")


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """The working tree as a fresh clone has it (tracked and new files, not ignored): no .venv or .tools."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    target = tmp_path / "checkout"
    for name in filter(None, listed.split(b"\0")):
        source = ROOT / os.fsdecode(name)
        if source.is_file():  # a tracked file deleted in the working tree is not part of it
            (target / os.fsdecode(name)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / os.fsdecode(name))
    return target


def _stock_env(**extra: str) -> dict[str, str]:
    """`env -i HOME=… PATH=/usr/sbin:/usr/bin:/sbin:/bin`, plus the machine's TLS trust and cache location,
    which are not Python settings (uv's cache is warm from the suite's own `make dev-deps`)."""
    env = {"HOME": str(Path.home()), "PATH": MINIMAL_PATH}
    for name in ("SSL_CERT_FILE", "SSL_CERT_DIR", "XDG_CACHE_HOME", "UV_CACHE_DIR"):
        if name in os.environ:
            env[name] = os.environ[name]
    return env | extra


def _make(checkout: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", "-C", str(checkout), *args],
        env=_stock_env(**env),
        capture_output=True,
        text=True,
        check=False,
        timeout=240,
    )


def test_make_run_and_dev_deps_on_the_stock_python(
    checkout: Path, stock_purelib: Path, models_dir: Path, tmp_path: Path
) -> None:
    before = _listing(stock_purelib)
    result = _make(checkout, "uv")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "externally-managed-environment" not in result.stderr
    assert f"uv is not on PATH: installing it into {checkout}/.tools/uv" in result.stdout
    assert result.stdout.rstrip().splitlines()[-1].startswith("uv ")  # `make uv` ends with its version
    assert (checkout / ".tools/uv/bin/uv").is_file()
    assert _listing(stock_purelib) == before, "the stock Python's packages are left alone"
    # A second run finds it and installs nothing.
    again = _make(checkout, "uv")
    assert again.returncode == 0 and "installing" not in again.stdout

    # `make run` as the README says, on the generated model: its deps sync, then the server says ready.
    port = free_port()
    settings = {
        "MODELS_DIR": str(models_dir),
        "OFFLINE": "true",
        "PORT": str(port),
        "GIGAAM_RUNTIME": "onnxruntime",
        "GIGAAM_PRECISION": "fp32",
        "NUM_THREADS": "1",
        "SPOOL_DIR": str(tmp_path / "spool"),
        "JOBS_DIR": str(tmp_path / "jobs"),
    }
    process = subprocess.Popen(
        ["make", "--no-print-directory", "-C", str(checkout), "run", "EXTRAS=cpu"],
        env=_stock_env(**settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # make, uv and the server: stopped together below
    )
    try:
        # Bounded only against a hang (the sync comes first).
        Served(process, f"http://127.0.0.1:{port}").wait_ready()
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        output = process.communicate(timeout=120)[0]
    assert f"ready — open http://127.0.0.1:{port}/" in output, output

    # `make test`'s Python part: the dev environment, torch included (its wheel directory, if pip's
    # configuration names one, read by the stock Python's pip), from the same private uv.
    dev = _make(checkout, "dev-deps")
    assert dev.returncode == 0, dev.stdout + dev.stderr
    imported = subprocess.run(
        [checkout / ".venv/bin/python", "-c", "import pytest, torch"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert imported.returncode == 0, imported.stderr
    assert _listing(stock_purelib) == before


def _python_without(tmp_path: Path, *modules: str) -> str:
    """The stock Python as Debian ships it without python3-venv or python3-pip: `-m venv` / `-m pip` fail
    as they do there (those packages cannot be removed from the machine for one test)."""
    wrapper = tmp_path / "python3"
    refusals = "\n".join(
        f'[ "$1 $2" = "-m {module}" ] && {{ echo "No module named {module} (stock Debian)" >&2; exit 1; }}'
        for module in modules
    )
    wrapper.write_text(f'#!/bin/sh\n{refusals}\nexec {STOCK_PYTHON} "$@"\n')
    wrapper.chmod(0o755)
    return str(wrapper)


def test_without_venv_uv_goes_into_a_pip_target(checkout: Path, stock_purelib: Path, tmp_path: Path) -> None:
    before = _listing(stock_purelib)
    result = _make(checkout, "uv", PYTHON=_python_without(tmp_path, "venv"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert not (checkout / ".tools/uv/bin/python").exists()  # not a venv: pip's --target
    assert subprocess.run([checkout / ".tools/uv/bin/uv", "--version"], check=True).returncode == 0
    assert _listing(stock_purelib) == before


def test_without_venv_or_pip_the_message_says_what_to_install(checkout: Path, tmp_path: Path) -> None:
    result = _make(checkout, "run", PYTHON=_python_without(tmp_path, "venv", "pip"))
    assert result.returncode != 0
    assert "uv is not on PATH, and" in result.stderr and "has neither venv nor pip" in result.stderr
    assert "sudo apt-get install python3-venv" in result.stderr
    assert "https://docs.astral.sh/uv/getting-started/installation/" in result.stderr
    assert not (checkout / ".tools/uv").exists()


def test_torch_comes_from_pip_configured_wheels_without_pip_in_python(checkout: Path, tmp_path: Path) -> None:
    """dev-deps reads pip's find-links (a user's pip.conf here) with .tools/uv's pip when PYTHON has none."""
    (tmp_path / "config/pip").mkdir(parents=True)
    (tmp_path / "config/pip/pip.conf").write_text(f"[global]\nfind-links = {tmp_path / 'wheels'}\n")
    python = _python_without(tmp_path, "pip")
    assert _make(checkout, "uv", PYTHON=python).returncode == 0
    planned = _make(checkout, "-n", "dev-deps", PYTHON=python, XDG_CONFIG_HOME=str(tmp_path / "config"))
    assert planned.returncode == 0, planned.stderr
    assert f"--find-links {tmp_path / 'wheels'} torch==" in planned.stdout
