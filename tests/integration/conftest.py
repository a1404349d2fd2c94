"""Fixtures shared by the integration tests; every test here carries the `integration` marker."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from gigaam_api.app import build_transcriber
from gigaam_api.config import Settings
from gigaam_api.engines.base import ASREngine
from tests.fixtures.engines import SteppedEngine, WatchedEngine
from tests.fixtures.job_servers import servers  # noqa: F401 (a fixture for test_jobs_resume and the diarized resume)
from tests.fixtures.live_server import LiveServer, start_server
from tests.fixtures.speech import PAUSES, SENTENCES, long_speech, write_wav

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def meeting(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 30 s of speech: with engines.SHORT_CHUNKS, several batches."""
    audio, _ = long_speech(SENTENCES, PAUSES[:-1])
    return write_wav(tmp_path_factory.mktemp("meeting") / "meeting.wav", audio)


@pytest.fixture
def served(settings_factory: Callable[..., Settings]) -> Iterator[Callable[..., tuple[LiveServer, Any]]]:
    """`served(engine_class, **settings)`: a server with sharing on and the engine behind a gate."""
    started: list[tuple[LiveServer, WatchedEngine]] = []

    def make(wrapper: Callable[[ASREngine], WatchedEngine], **overrides: Any) -> tuple[LiveServer, Any]:
        holder: list[WatchedEngine] = []

        def wrap(engine: ASREngine) -> ASREngine:
            holder.append(wrapper(engine))
            return holder[0]

        settings = settings_factory(**{"DEDUP": True, **overrides})
        live = start_server(settings, factory=partial(build_transcriber, wrap_engine=wrap))
        started.append((live, holder[0]))
        return live, holder[0]

    yield make
    for live, engine in started:
        engine.gate.set()
        if isinstance(engine, SteppedEngine):
            engine.step(1000)
        live.stop()
