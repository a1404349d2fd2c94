"""SharedRuns with a run the test drives event by event: attach, replay, leave, linger, errors, cache.

A fake run stands in for the pipeline (covered by the integration tests) so that every interleaving
is forced by the test: nothing here waits on time except the grace period's own timer.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from gigaam_api.dedup.cache import ResultCache
from gigaam_api.dedup.runs import SharedRuns
from gigaam_api.errors import APIError, bad_request
from gigaam_api.metrics import Metrics
from gigaam_api.pipeline.protocol import Progress, Run, RunEvent
from gigaam_api.transcript import Segment
from tests.fixtures.waiting import wait_until_async

END = object()


def segment(i: int) -> Segment:
    return Segment(id=i, start=float(i), end=i + 1.0, text=f"слово {i}")


class FakeRun:
    """Yields what the test puts in `feed`; `END` ends it, an exception fails it."""

    def __init__(self) -> None:
        self.feed: asyncio.Queue[object] = asyncio.Queue()
        self.closed = asyncio.Event()

    @property
    def duration(self) -> float | None:
        return 10.0

    @property
    def language(self) -> str | None:
        return "ru"

    async def events(self) -> AsyncIterator[RunEvent]:
        while (item := await self.feed.get()) is not END:
            if isinstance(item, Exception):
                raise item
            assert isinstance(item, Segment | Progress)
            yield item

    async def aclose(self) -> None:
        self.closed.set()


class Starts:
    """The `start` callable: counts starts, hands out FakeRuns, registers their clean-up."""

    def __init__(self, error: Exception | None = None) -> None:
        self.runs: list[FakeRun] = []
        self.error = error
        self.released = 0

    async def __call__(self, owned: AsyncExitStack) -> Run:
        if self.error is not None:
            raise self.error
        owned.callback(self._release)
        run = FakeRun()
        owned.push_async_callback(run.aclose)
        self.runs.append(run)
        return run

    def _release(self) -> None:
        self.released += 1


async def collect(run: Run) -> list[RunEvent]:
    return [event async for event in run.events()]


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


def runs(*, grace: float = 0.0, cache: ResultCache | None = None, share: bool = True) -> SharedRuns:
    return SharedRuns(share=share, grace_seconds=grace, cache=cache, metrics=Metrics())


def test_a_late_client_replays_what_came_before_and_follows_the_rest() -> None:
    async def scenario() -> None:
        shared, starts = runs(), Starts()
        async with AsyncExitStack() as first_stack, AsyncExitStack() as late_stack:
            first = await shared.open("k", starts, first_stack)
            reading = asyncio.ensure_future(collect(first))
            run = starts.runs[0]
            await run.feed.put(segment(0))
            await run.feed.put(segment(1))
            await settle()
            late = await shared.open("k", starts, late_stack)
            late_reading = asyncio.ensure_future(collect(late))
            await run.feed.put(segment(2))
            await run.feed.put(END)
            expected = [segment(0), segment(1), segment(2)]
            assert await reading == expected
            assert await late_reading == expected
            assert late.duration == 10.0 and late.language == "ru"
        assert len(starts.runs) == 1
        await asyncio.wait_for(run.closed.wait(), 5)
        assert starts.released == 1

    asyncio.run(scenario())


def test_the_run_is_cancelled_only_when_its_last_client_leaves() -> None:
    async def scenario() -> None:
        shared, starts = runs(), Starts()
        first_stack, second_stack = AsyncExitStack(), AsyncExitStack()
        await shared.open("k", starts, first_stack)
        second = await shared.open("k", starts, second_stack)
        run = starts.runs[0]
        await first_stack.aclose()  # the first client disconnects
        await settle()
        assert not run.closed.is_set()
        reading = asyncio.ensure_future(collect(second))
        await run.feed.put(segment(0))
        await run.feed.put(END)
        assert await reading == [segment(0)]
        await second_stack.aclose()
        await asyncio.wait_for(run.closed.wait(), 5)

        third_stack = AsyncExitStack()
        await shared.open("k2", starts, third_stack)
        await third_stack.aclose()  # the only client leaves, no grace: cancelled and cleaned up at once
        assert starts.runs[1].closed.is_set() and starts.released == 2
        assert shared.in_flight == 0

    asyncio.run(scenario())


def test_a_run_left_alone_lingers_for_the_grace_period_and_a_retry_picks_it_up() -> None:
    async def scenario() -> None:
        shared, starts = runs(grace=30), Starts()
        first_stack = AsyncExitStack()
        await shared.open("k", starts, first_stack)
        run = starts.runs[0]
        await run.feed.put(segment(0))
        await first_stack.aclose()  # timed out
        await settle()
        assert not run.closed.is_set() and shared.in_flight == 1
        async with AsyncExitStack() as retry_stack:
            retry = await shared.open("k", starts, retry_stack)
            reading = asyncio.ensure_future(collect(retry))
            await run.feed.put(segment(1))
            await run.feed.put(END)
            assert await reading == [segment(0), segment(1)]
        assert len(starts.runs) == 1

    asyncio.run(scenario())


def test_a_run_nobody_returns_to_is_cancelled_when_the_grace_period_ends() -> None:
    async def scenario() -> None:
        shared, starts = runs(grace=0.05), Starts()
        stack = AsyncExitStack()
        await shared.open("k", starts, stack)
        await stack.aclose()
        await asyncio.wait_for(starts.runs[0].closed.wait(), 5)
        await settle()
        assert starts.released == 1 and shared.in_flight == 0
        async with AsyncExitStack() as again:
            await shared.open("k", starts, again)  # a later request starts afresh
        assert len(starts.runs) == 2

    asyncio.run(scenario())


def test_a_failure_reaches_every_client() -> None:
    async def scenario() -> None:
        shared, starts = runs(), Starts()
        async with AsyncExitStack() as a, AsyncExitStack() as b:
            clients = [await shared.open("k", starts, a), await shared.open("k", starts, b)]
            readings = [asyncio.ensure_future(collect(c)) for c in clients]
            await starts.runs[0].feed.put(segment(0))
            await starts.runs[0].feed.put(bad_request("broken audio"))
            for reading in readings:
                with pytest.raises(APIError, match="broken audio"):
                    await reading

    asyncio.run(scenario())


def test_a_start_that_fails_fails_the_clients_waiting_for_it() -> None:
    async def scenario() -> None:
        shared = runs()
        gate = asyncio.Event()

        async def slow_failing_start(owned: AsyncExitStack) -> Run:
            await gate.wait()
            raise bad_request("not audio")

        async with AsyncExitStack() as a, AsyncExitStack() as b:
            owner = asyncio.ensure_future(shared.open("k", slow_failing_start, a))
            await settle()
            waiter = asyncio.ensure_future(shared.open("k", slow_failing_start, b))
            await settle()
            gate.set()
            for task in (owner, waiter):
                with pytest.raises(APIError, match="not audio"):
                    await task
        assert shared.in_flight == 0

    asyncio.run(scenario())


def test_a_finished_run_is_cached_and_a_repeat_needs_no_start(tmp_path: Path) -> None:
    async def scenario() -> None:
        cache = ResultCache(tmp_path, max_bytes=1 << 20, max_age_seconds=3600)
        metrics = Metrics()
        shared, starts = SharedRuns(share=True, grace_seconds=0, cache=cache, metrics=metrics), Starts()
        async with AsyncExitStack() as stack:
            first = await shared.open("k", starts, stack)
            reading = asyncio.ensure_future(collect(first))
            await starts.runs[0].feed.put(segment(0))
            await starts.runs[0].feed.put(END)
            await reading

        async def idle() -> bool:
            return shared.in_flight == 0

        await wait_until_async(idle, "no run is in flight")
        async with AsyncExitStack() as stack:
            repeat = await shared.open("k", starts, stack)
            assert await collect(repeat) == [segment(0)]
            assert repeat.duration == 10.0 and repeat.language == "ru"
        assert len(starts.runs) == 1
        assert metrics.cache_hits._value.get() == 1 and metrics.cache_misses._value.get() == 1

    asyncio.run(scenario())


def test_without_sharing_identical_requests_run_separately() -> None:
    async def scenario() -> None:
        shared, starts = runs(share=False, grace=30), Starts()
        async with AsyncExitStack() as a, AsyncExitStack() as b:
            await shared.open("k", starts, a)
            await shared.open("k", starts, b)
        assert len(starts.runs) == 2
        assert all(run.closed.is_set() for run in starts.runs)  # no lingering without sharing

    asyncio.run(scenario())


def test_a_cancelled_client_stops_the_run_at_once_despite_the_grace_unless_another_is_attached() -> None:
    async def scenario() -> None:
        shared, starts = runs(grace=3600), Starts()
        staying_cancel, leaving_cancel = asyncio.Event(), asyncio.Event()
        staying_stack, leaving_stack = AsyncExitStack(), AsyncExitStack()
        await shared.open("k", starts, leaving_stack, leaving_cancel)
        staying = await shared.open("k", starts, staying_stack, staying_cancel)
        run = starts.runs[0]
        leaving_cancel.set()
        await leaving_stack.aclose()
        await settle()
        assert not run.closed.is_set(), "the other client keeps the run going"
        reading = asyncio.ensure_future(collect(staying))
        await run.feed.put(segment(0))
        await settle()
        staying_cancel.set()
        await staying_stack.aclose()  # the last client cancels: no grace
        assert run.closed.is_set() and starts.released == 1 and shared.in_flight == 0
        reading.cancel()
        await asyncio.gather(reading, return_exceptions=True)

    asyncio.run(scenario())


def test_orphaned_runs_give_their_slots_to_requests_waiting_in_line_oldest_orphan_first() -> None:
    async def scenario() -> None:
        line = 0
        shared = SharedRuns(share=True, grace_seconds=3600, cache=None, waiting=lambda: line)
        starts = Starts()
        stacks = [AsyncExitStack() for _ in range(3)]
        for key, stack in zip("abc", stacks, strict=True):
            await shared.open(key, starts, stack)
        for i in (1, 0):  # b, then a lose their clients: both linger for a retry
            await stacks[i].aclose()
        await settle()
        assert shared.in_flight == 3 and not any(run.closed.is_set() for run in starts.runs)

        line = 1  # one request joins the line: the run orphaned first (b) makes room for it
        shared.make_room()
        shared.make_room()  # told again before b has let go: b's slot is already on its way
        await settle()
        assert [run.closed.is_set() for run in starts.runs] == [False, True, False]
        assert starts.released == 1

        line = 0  # b's slot went to the request in line
        shared.make_room()
        line = 1  # another one waits
        await stacks[2].aclose()  # c loses its client while it waits: the oldest orphan (a) stops
        await settle()
        assert [run.closed.is_set() for run in starts.runs] == [True, True, False]

        line = 0
        async with AsyncExitStack() as retry:  # a retry of c's request picks up its lingering run
            await shared.open("c", starts, retry)
            assert len(starts.runs) == 3

    asyncio.run(scenario())


def test_a_request_attached_to_a_run_not_yet_started_stops_waiting_when_cancelled() -> None:
    async def scenario() -> None:
        shared, starts = runs(), Starts()
        gate = asyncio.Event()

        async def slow_start(owned: AsyncExitStack) -> Run:
            await gate.wait()  # waiting in line for a running slot
            return await starts(owned)

        cancel = asyncio.Event()
        async with AsyncExitStack() as first_stack, AsyncExitStack() as twin_stack:
            first = asyncio.ensure_future(shared.open("k", slow_start, first_stack))
            await settle()
            twin = asyncio.ensure_future(shared.open("k", slow_start, twin_stack, cancel))
            await settle()
            assert shared.clients == 2 and not twin.done()
            cancel.set()
            await asyncio.wait_for(twin, 5)
            await twin_stack.aclose()
            assert shared.clients == 1 and not first.done()
            gate.set()
            await first
            run = starts.runs[0]
            assert not run.closed.is_set(), "the first request's run goes on"
        await asyncio.wait_for(run.closed.wait(), 5)

    asyncio.run(scenario())
