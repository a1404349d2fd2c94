"""A session's engine calls, each one unit of work on its device's inference lane (an interactive
ticket of `pipeline/scheduler.py`: live audio goes before file uploads and batch jobs)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Future
from functools import partial
from typing import Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from gigaam_api.engines.base import ASREngine, EngineOptions
from gigaam_api.numbers.digits import russian_digits, with_digits

T = TypeVar("T")
Audio = npt.NDArray[np.float32]


class LaneClosedError(RuntimeError):
    """The scheduler stopped before this work ran."""


class Lane(Protocol):
    """Where a session's work runs: `submit` queues one unit, `close` gives the lane back."""

    def submit(self, work: Callable[[], T]) -> Future[T]: ...

    def close(self) -> None: ...


class Recognizer(Protocol):
    options: EngineOptions

    async def transcribe(self, audio: Audio) -> str: ...

    def close(self) -> None: ...


class LaneRecognizer:
    """`engine` on `lane` with `options` (which the session may change between utterances)."""

    def __init__(self, engine: ASREngine, lane: Lane, options: EngineOptions) -> None:
        self._engine = engine
        self._lane = lane
        self.options = options

    async def transcribe(self, audio: Audio) -> str:
        future = self._lane.submit(partial(self._run, audio, self.options))
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            future.cancel()  # not started yet: it never runs
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise
            # The lane cancelled it (the scheduler is stopping): a failure of this utterance, not of
            # whoever awaits it.
            raise LaneClosedError("the inference lane closed (the server is stopping)") from None

    def _run(self, audio: Audio, options: EngineOptions) -> str:
        result = self._engine.transcribe_batch([audio], options)[0]
        if options.numbers != "words":
            result = with_digits(result, russian_digits())
        return result.text

    def close(self) -> None:
        self._lane.close()
