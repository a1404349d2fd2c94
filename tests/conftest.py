"""Shared fixtures: the generated GigaAM-format model, synthetic speech, and real servers on 127.0.0.1."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from hypothesis import settings as hypothesis_settings

from gigaam_api.config import Settings, load_settings
from tests.fixtures.app_server import AppServer, serve_app
from tests.fixtures.echo_engine import echo_family_installed
from tests.fixtures.live_server import LiveServer, start_server
from tests.fixtures.redis_server import run_redis
from tests.fixtures.speech import FORMATS, PHRASES, encode, require_espeak, synthesize
from tests.fixtures.tiny_model import write_tiny_model

# Property tests draw the same examples every run: a suite that finds a new bug on one run in ten is a
# flaky suite. `make fuzz` (tests/integration/test_fuzz.py with FUZZ_EXAMPLES) explores new ones.
hypothesis_settings.register_profile("suite", derandomize=True, database=None)
hypothesis_settings.register_profile("explore", database=None)
hypothesis_settings.load_profile("explore" if "FUZZ_EXAMPLES" in os.environ else "suite")

# tests/gpu needs a GPU and fails loudly without one: `make test-gpu` runs it, plain `pytest` leaves it out.
collect_ignore = [] if os.environ.get("GIGAAM_TEST_GPU") else ["gpu"]


@pytest.fixture(scope="session", autouse=True)
def jobs_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Job stores of every server the tests start (subprocesses inherit it), never the repository's."""
    path = tmp_path_factory.mktemp("jobs")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JOBS_DIR", str(path))
        yield path


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    write_tiny_model(root / "gigaam-v3-ctc", "gigaam-v3-ctc", int8=True)
    write_tiny_model(root / "gigaam-v3-rnnt", "gigaam-v3-rnnt")
    return root


@pytest.fixture(scope="session")
def speaker_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The generated GigaAM v3 CTC beside the GE2E speaker model (tests/fixtures/speaker_model.py), where
    default settings find it."""
    from tests.fixtures.speaker_model import build

    root = tmp_path_factory.mktemp("speaker-models")
    write_tiny_model(root / "gigaam-v3-ctc", "gigaam-v3-ctc")
    build(root)
    return root


@pytest.fixture(scope="session")
def qwen_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The generated GigaAM v3 CTC beside a tiny random Qwen3-ASR (tests/fixtures/tiny_qwen.py)."""
    from tests.fixtures.tiny_qwen import write_tiny_qwen

    root = tmp_path_factory.mktemp("qwen-models")
    write_tiny_model(root / "gigaam-v3-ctc", "gigaam-v3-ctc")
    write_tiny_qwen(root / "qwen3-asr-0.6b")
    return root


@pytest.fixture(scope="module")
def echo_family(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The test-only "echo" engine family, installed as a third-party family would be (entry point)."""
    with echo_family_installed(tmp_path_factory.mktemp("site")):
        yield


@pytest.fixture(scope="session")
def audio_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Each phrase spoken by espeak-ng, in every format: `<phrase>.<fmt>`."""
    require_espeak()
    root = tmp_path_factory.mktemp("audio")
    for name, text in PHRASES.items():
        samples = synthesize(text)
        for fmt in FORMATS:
            encode(samples, root / f"{name}.{fmt}", fmt)
    return root


@pytest.fixture(scope="session")
def settings_factory(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        base: dict[str, Any] = {
            "MODELS_DIR": models_dir,
            "OFFLINE": True,
            "SPOOL_DIR": tmp_path_factory.mktemp("spool"),
            "JOBS_DIR": tmp_path_factory.mktemp("jobs"),  # each server its own store
            "NUM_THREADS": 1,
            # The reference configuration on every machine; test_openvino.py covers the others.
            "GIGAAM_RUNTIME": "onnxruntime",
            "GIGAAM_PRECISION": "fp32",
            # Every request runs its own inference unless a test turns sharing or the cache on
            # (tests/integration/test_dedup.py): tests of other behaviour send the same files again.
            "DEDUP": False,
            "CACHE_MAX_MB": 0,
            "CACHE_DIR": tmp_path_factory.mktemp("cache"),
            # Test receivers and file servers listen on ephemeral ports; tests of the port rule set it.
            "JOBS_URL_PORTS": "1-65535",
            # Every test client is 127.0.0.1: one address holding every upload slot is the tests' normal
            # case, not an abuse (with small lines the default share is a single slot). Tests of the
            # per-client share set it.
            "UPLOADS_PER_CLIENT_SHARE": 1,
            "_env_file": None,
        }
        base.update(overrides)
        return load_settings(**base)

    return make


@pytest.fixture(scope="session")
def server(settings_factory: Callable[..., Settings]) -> Iterator[LiveServer]:
    live = start_server(settings_factory())
    yield live
    live.stop()


@pytest.fixture
def make_server(settings_factory: Callable[..., Settings]) -> Iterator[Callable[..., LiveServer]]:
    started: list[LiveServer] = []

    def make(**overrides: Any) -> LiveServer:
        live = start_server(settings_factory(**overrides))
        started.append(live)
        return live

    yield make
    for live in started:
        live.stop()


@pytest.fixture(scope="session")
def app_server(settings_factory: Callable[..., Settings]) -> Iterator[AppServer]:
    """The default app in this process, without a socket (tests/fixtures/app_server.py)."""
    with serve_app(settings_factory()) as served:
        yield served


@pytest.fixture
def make_app_server(settings_factory: Callable[..., Settings]) -> Iterator[Callable[..., AppServer]]:
    with contextlib.ExitStack() as stack:

        def make(**overrides: Any) -> AppServer:
            return stack.enter_context(serve_app(settings_factory(**overrides)))

        yield make


@pytest.fixture
def client(app_server: AppServer) -> openai.OpenAI:
    return app_server.client()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server for the session (tests flush it before use)."""
    yield from run_redis(tmp_path_factory.mktemp("redis"))
