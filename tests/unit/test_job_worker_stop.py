"""A job worker stops when cancelled, even as a wake-up arrives (the server's shutdown waits for it)."""

from __future__ import annotations

import asyncio

import pytest

from gigaam_api.jobs.worker import JobWorker


@pytest.mark.parametrize("loop_turns", range(5))
def test_a_worker_cancelled_as_it_is_woken_stops(loop_turns: int) -> None:
    """Python 3.11's `wait_for` drops a cancellation that arrives with the result it waited for; each
    number of event-loop turns between the wake-up and the cancel hits another point of that race."""

    async def scenario() -> bool:
        wake = asyncio.Event()
        # No model loaded (the planner says so): the worker never touches its store, audio or spool.
        worker = JobWorker(
            None,  # type: ignore[arg-type]
            None,  # type: ignore[arg-type]
            None,  # type: ignore[arg-type]
            lambda _: None,
            expiry=None,  # type: ignore[arg-type]
            lease_seconds=60,
            poll_seconds=3600,
            wake=wake,
            name="worker",
        )
        task = asyncio.ensure_future(worker.run_forever())
        for _ in range(5):  # into its wait for a wake-up
            await asyncio.sleep(0)
        wake.set()
        for _ in range(loop_turns):
            await asyncio.sleep(0)
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=10)  # a hang bound: it stops at its next turn
        return bool(done)

    assert asyncio.run(scenario()), "the cancelled worker kept waiting for jobs"
