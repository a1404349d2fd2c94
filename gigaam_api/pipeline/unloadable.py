"""An engine that gives its memory back after a quiet spell and loads again on the next batch, or that
starts unloaded (a configured model nobody has asked for yet) and loads on its first batch.

The scheduler calls `unload` only while no batch runs, so an unload never races a batch. Batches may
run on several of its streams at once: the first to find the model unloaded loads it while the others
wait for that load.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Literal

from gigaam_api.engines.base import ASREngine, Capabilities, ChunkResult, EngineOptions

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

log = logging.getLogger(__name__)

ModelState = Literal["loaded", "loading", "unloaded"]


def release_freed_memory() -> None:
    """Ask glibc to hand freed heap pages back to the OS (a no-op elsewhere): RSS drops only then."""
    name = ctypes.util.find_library("c")
    if name is None:
        return
    libc = ctypes.CDLL(name)
    if hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)


class UnloadableEngine:
    def __init__(
        self,
        load: Callable[[], ASREngine],
        engine: ASREngine | None,
        *,
        capabilities: Capabilities | None = None,
        on_state: Callable[[ModelState], None] | None = None,
        on_loaded: Callable[[float], None] | None = None,
        on_batch: Callable[[float], None] | None = None,
    ) -> None:
        """With `engine` None (lazy), `capabilities` are what the engine will declare once loaded."""
        self._load = load
        self._engine: ASREngine | None = engine
        declared = engine.capabilities if engine is not None else capabilities
        if declared is None:
            raise ValueError("a lazily loaded engine needs its declared capabilities")
        self._capabilities = declared
        self._on_state = on_state
        self._on_loaded = on_loaded
        self._on_batch = on_batch  # each batch's inference seconds (engines share a device's scheduler)
        self._state: ModelState = "loaded" if engine is not None else "unloaded"
        self._ever_loaded = engine is not None
        self._lock = threading.Lock()  # guards `_state` for readers on other threads
        self._loading = threading.Lock()  # one load, however many streams' batches find the model unloaded

    @property
    def capabilities(self) -> Capabilities:
        return self._capabilities

    @property
    def state(self) -> ModelState:
        with self._lock:
            return self._state

    def _set_state(self, state: ModelState) -> None:
        with self._lock:
            self._state = state
        if self._on_state is not None:
            self._on_state(state)

    def transcribe_batch(
        self, chunks: Sequence[npt.NDArray[np.float32]], options: EngineOptions
    ) -> list[ChunkResult]:
        engine = self._loaded()
        began = time.monotonic()
        results = engine.transcribe_batch(chunks, options)
        if self._on_batch is not None:
            self._on_batch(time.monotonic() - began)
        return results

    def _loaded(self) -> ASREngine:
        with self._loading:
            if self._engine is None:
                self._engine = self._load_now()
            return self._engine

    def _load_now(self) -> ASREngine:
        self._set_state("loading")
        began = time.monotonic()
        try:
            engine = self._load()
        except BaseException:
            self._set_state("unloaded")
            raise
        self._set_state("loaded")
        seconds = time.monotonic() - began
        if self._on_loaded is not None:
            self._on_loaded(seconds)
        how = "again" if self._ever_loaded else "on first use"
        self._ever_loaded = True
        log.info("loaded %s %s in %.1f s", self._capabilities.model_id, how, seconds)
        return engine

    def unload(self) -> None:
        if self._engine is None:
            return
        self._engine = None
        gc.collect()
        release_freed_memory()
        self._set_state("unloaded")
        log.info(
            "unloaded %s after a quiet spell; the next request loads it again", self._capabilities.model_id
        )
