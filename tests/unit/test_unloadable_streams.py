"""An unloadable engine whose batches come from two inference streams at once: one load, not two."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import numpy.typing as npt

from gigaam_api.engines.base import ChunkResult, EngineOptions
from gigaam_api.pipeline.unloadable import UnloadableEngine
from tests.fixtures.engines import capabilities
from tests.fixtures.waiting import HANG_GUARD_SECONDS

WAIT = HANG_GUARD_SECONDS  # a hang guard only: never a timing assertion
CHUNK = [np.zeros(16000, np.float32)]


class Answering:
    capabilities = capabilities(parallel_calls=True, streams=2)

    def transcribe_batch(
        self, chunks: Sequence[npt.NDArray[np.float32]], options: EngineOptions
    ) -> list[ChunkResult]:
        return [ChunkResult("x") for _ in chunks]


def test_two_batches_that_find_the_model_unloaded_load_it_once() -> None:
    """The second batch arrives while the first one's load is held: it waits for that load."""
    loads: list[int] = []
    loading = threading.Event()
    release = threading.Event()

    def load() -> Answering:
        loads.append(1)
        loading.set()
        assert release.wait(WAIT)
        return Answering()

    engine = UnloadableEngine(load, None, capabilities=Answering.capabilities)
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(engine.transcribe_batch, CHUNK, EngineOptions())
        assert loading.wait(WAIT)
        second = pool.submit(engine.transcribe_batch, CHUNK, EngineOptions())
        release.set()
        assert first.result(timeout=WAIT)[0].text == "x"
        assert second.result(timeout=WAIT)[0].text == "x"
    assert loads == [1]
    assert engine.state == "loaded"
