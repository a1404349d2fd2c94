"""ThreadFeed's bound on how far its producer runs ahead, and the worker threads' lower priority."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator

from gigaam_api.pipeline.feed import ThreadFeed
from gigaam_api.pipeline.run import DECODE_NICENESS, yield_to_inference


def test_the_producer_waits_while_max_ahead_items_are_not_consumed() -> None:
    produced: list[int] = []
    third = threading.Event()

    def produce() -> Iterator[int]:
        for i in range(5):
            produced.append(i)
            if i == 2:
                third.set()
            yield i

    async def scenario() -> None:
        feed = ThreadFeed(produce, "test", max_ahead=2)
        assert await feed.next() == 0
        assert await feed.next() == 1
        third.wait(5)  # the producer made item 2 and now waits for room to hand it over
        await asyncio.sleep(0)
        assert feed.ready() == [] and produced == [0, 1, 2]
        feed.consumed(2)  # room for two more
        assert [await feed.next() for _ in range(2)] == [2, 3]
        feed.consumed(2)
        assert await feed.next() == 4
        assert await feed.next() is None
        feed.thread.join(5)
        assert not feed.thread.is_alive()

    asyncio.run(scenario())


def test_stop_releases_a_producer_that_waits_for_room() -> None:
    stop = threading.Event()

    async def scenario() -> None:
        feed = ThreadFeed(lambda: iter(range(10)), "test", max_ahead=1, stop=stop)
        assert await feed.next() == 0
        stop.set()
        feed.thread.join(5)
        assert not feed.thread.is_alive()
        assert await feed.next() is None

    asyncio.run(scenario())


def test_worker_threads_yield_to_inference() -> None:
    seen: list[int] = []

    def worker() -> None:
        before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        yield_to_inference()
        seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) - before)

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen == [DECODE_NICENESS - os.getpriority(os.PRIO_PROCESS, 0)]  # only that thread changed
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == os.getpriority(os.PRIO_PROCESS, 0)
