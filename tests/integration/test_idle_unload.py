"""IDLE_UNLOAD_SECONDS against the real process: the model's memory goes back to the OS when idle,
and the next request loads it again and waits instead of failing."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from tests.fixtures.heavy_model import write_heavy_model
from tests.fixtures.processes import Served, free_port, server_env
from tests.fixtures.waiting import HANG_GUARD_SECONDS, wait_until

BALLAST_MB = 200


@pytest.fixture
def idle_server(tmp_path: Path) -> Iterator[Served]:
    models = tmp_path / "models"
    write_heavy_model(models / "gigaam-v3-ctc", BALLAST_MB)
    port = free_port()
    env = server_env(
        MODELS_DIR=str(models),
        OFFLINE="true",
        PORT=str(port),
        SPOOL_DIR=str(tmp_path / "spool"),
        IDLE_UNLOAD_SECONDS="1",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "gigaam_api", "serve"], env=env, stderr=subprocess.PIPE, text=True
    )
    served = Served(process, f"http://127.0.0.1:{port}")
    served.wait_ready()
    yield served
    process.terminate()
    process.communicate(timeout=60)


def wait_for_state(served: Served, state: str) -> dict[str, object]:
    def health() -> dict[str, object] | None:
        answer: dict[str, object] = httpx.get(f"{served.url}/health", timeout=5).json()
        return answer if answer.get("model_state") == state else None

    return wait_until(health, f"the model is {state}")


def loaded_rss(served: Served, process: psutil.Process, transcribe: Callable[[], httpx.Response]) -> int:
    """The server's RSS with the model loaded. The idle timer (1 s) may unload it at any moment after a
    request, so the reading counts only if /health says loaded both before and after it (nothing reloads
    without a request); otherwise transcribe again and retry."""
    while True:
        assert transcribe().status_code == 200
        if _state(served) == "loaded":
            rss: int = process.memory_info().rss
            if _state(served) == "loaded":
                return rss


def _state(served: Served) -> object:
    return httpx.get(f"{served.url}/health", timeout=5).json().get("model_state")


def test_idle_model_gives_memory_back_and_reloads_on_demand(idle_server: Served, audio_dir: Path) -> None:
    process = psutil.Process(idle_server.process.pid)
    wav = (audio_dir / "greeting.wav").read_bytes()
    url = f"{idle_server.url}/v1/audio/transcriptions"
    texts: list[str] = []

    def transcribe() -> httpx.Response:
        response = httpx.post(url, files={"file": ("a.wav", wav)}, timeout=HANG_GUARD_SECONDS)
        texts.append(response.json()["text"])
        return response

    loaded = loaded_rss(idle_server, process, transcribe)
    wait_for_state(idle_server, "unloaded")
    unloaded_rss = process.memory_info().rss
    ready = httpx.get(f"{idle_server.url}/ready", timeout=5)
    reloaded = loaded_rss(idle_server, process, transcribe)

    freed_mb = (loaded - unloaded_rss) / 2**20
    mb = [round(rss / 2**20) for rss in (loaded, unloaded_rss, reloaded)]
    print(f"RSS loaded {mb[0]} MB, unloaded {mb[1]} MB, reloaded {mb[2]} MB")
    assert len(set(texts)) == 1  # every load transcribes alike
    assert freed_mb >= 0.8 * BALLAST_MB  # the weights' memory really went back to the OS
    assert ready.status_code == 200 and ready.json()["model_state"] == "unloaded"
    assert reloaded - unloaded_rss >= 0.8 * BALLAST_MB * 2**20
