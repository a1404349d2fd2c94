"""`GuardedStore`: a hung or failing store is a `JobStoreDownError`, and holds only threads of its own.

The backend is a stand-in whose calls block until the test opens a gate: a hang on demand, so nothing
depends on timing (the timeout is short only so the test is quick; the call never ends before it).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

import pytest

from gigaam_api.jobs.guarded_store import GuardedStore, JobStoreDownError
from gigaam_api.jobs.store import JobStore
from tests.fixtures.waiting import wait_until_async

T = TypeVar("T")


class _Backend:
    kind = "stand-in"
    outage_errors: tuple[type[Exception], ...] = (ConnectionError,)

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.ran: list[str] = []
        self.failing = False

    def get(self, job_id: str) -> None:
        self.ran.append(job_id)
        if self.failing:
            raise ConnectionError("refused")
        self.gate.wait()

    def close(self) -> None:
        self.gate.set()


def _guarded(backend: _Backend, threads: int, timeout: float = 0.05) -> GuardedStore:
    store: JobStore = backend  # type: ignore[assignment]  # only `get` is used
    return GuardedStore(store, timeout=timeout, threads=threads)


def test_a_hung_store_holds_none_of_the_default_pool() -> None:
    backend = _Backend()
    # The pool's two threads must take the first two calls before those time out: a hang bound, so
    # longer than a loaded machine needs to start a thread.
    guarded = _guarded(backend, threads=2, timeout=2)

    async def scenario() -> None:
        first = [asyncio.ensure_future(guarded.get(f"job_{i}")) for i in range(2)]

        async def both_hang() -> bool:
            return len(backend.ran) == 2

        await wait_until_async(both_hang, "the pool's threads hang in the first two calls")
        calls = [guarded.get(f"job_{i}") for i in range(2, 10)]  # more than the default pool's workers
        results = await asyncio.gather(*first, *calls, return_exceptions=True)
        assert all(isinstance(r, JobStoreDownError) for r in results)
        assert guarded.down_since is not None
        assert await asyncio.to_thread(lambda: "free") == "free"  # the default pool is untouched
        # Only the pool's own threads ever ran a call; those queued behind them were dropped unstarted.
        assert sorted(backend.ran) == ["job_0", "job_1"]
        backend.gate.set()
        await guarded.get("job_again")
        assert guarded.down_since is None

    asyncio.run(scenario())
    guarded.close()


def test_an_outage_error_is_a_store_down_error() -> None:
    backend = _Backend()
    backend.failing = True
    guarded = _guarded(backend, threads=1)
    with pytest.raises(JobStoreDownError):
        asyncio.run(guarded.get("job_1"))
    guarded.close()


class _AnswersAtOnce(ThreadPoolExecutor):
    """Runs each call in the caller's thread: its answer is there before the loop's next turn."""

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future: Future[T] = Future()
        future.set_result(fn(*args, **kwargs))
        return future


def test_a_cancellation_that_comes_with_the_answer_is_not_lost() -> None:
    # A stopping server cancels its loops; a store call whose answer lands in the same loop turn as the
    # cancellation must still end cancelled. (Python 3.11's wait_for returned the answer and dropped the
    # cancellation, so a sweep loop with a short period kept running and held the server's shutdown.)
    async def scenario() -> None:
        backend = _Backend()
        backend.gate.set()
        guarded = _guarded(backend, threads=1, timeout=30)
        guarded._pool = _AnswersAtOnce()
        caller = asyncio.ensure_future(guarded.get("job_1"))
        await asyncio.sleep(0)  # the call is made; its answer is queued for the next turn
        caller.cancel()
        with pytest.raises(asyncio.CancelledError):
            await caller

    asyncio.run(scenario())
