from __future__ import annotations

import asyncio

import pytest

from gigaam_api.api.admission import (
    Admission,
    ClientUploadsError,
    LineClosedError,
    QueueFullError,
    TooManyUploadsError,
    UploadSlots,
    client_key,
)


async def _settle() -> None:
    """Let every task that can run do so (the line hands slots over on the loop)."""
    for _ in range(5):
        await asyncio.sleep(0)


def test_check_refuses_a_full_line_without_taking_a_place() -> None:
    async def scenario() -> None:
        admission = Admission(1, 1)
        admission.check()
        await admission.enter()
        waiter = asyncio.ensure_future(admission.enter())
        await _settle()
        assert (admission.running, admission.waiting, admission.count) == (1, 1, 2)
        with pytest.raises(QueueFullError):
            admission.check()
        with pytest.raises(QueueFullError):
            await admission.enter()
        admission.leave()
        await waiter
        assert (admission.running, admission.waiting) == (1, 0)
        admission.check()

    asyncio.run(scenario())


def test_the_line_is_first_come_first_served() -> None:
    async def scenario() -> None:
        admission = Admission(1, 10)
        await admission.enter()
        order: list[int] = []

        async def request(n: int) -> None:
            await admission.enter()
            order.append(n)

        tasks = []
        for n in range(5):
            tasks.append(asyncio.ensure_future(request(n)))
            await _settle()  # each joins the line before the next arrives
        assert admission.waiting == 5
        for _ in range(5):
            admission.leave()
            await _settle()
        assert order == [0, 1, 2, 3, 4]
        await asyncio.gather(*tasks)

    asyncio.run(scenario())


def test_a_cancelled_waiter_leaves_the_line_and_the_next_gets_the_slot() -> None:
    async def scenario() -> None:
        waits: list[float] = []
        admission = Admission(1, 2, on_wait=waits.append)
        await admission.enter()
        gone = asyncio.ensure_future(admission.enter())
        kept = asyncio.ensure_future(admission.enter())
        await _settle()
        gone.cancel()
        await asyncio.gather(gone, return_exceptions=True)
        assert admission.waiting == 1
        admission.leave()
        await kept
        assert (admission.running, admission.waiting) == (1, 0)
        assert len(waits) == 2  # the first (no wait) and `kept`; the cancelled one never got a slot

    asyncio.run(scenario())


def test_a_slot_granted_to_a_waiter_cancelled_at_that_moment_is_passed_on() -> None:
    async def scenario() -> None:
        admission = Admission(1, 2)
        await admission.enter()
        unlucky = asyncio.ensure_future(admission.enter())
        next_one = asyncio.ensure_future(admission.enter())
        await _settle()
        admission.leave()  # grants `unlucky` its slot...
        unlucky.cancel()  # ...which gives up before it could run
        await asyncio.gather(unlucky, return_exceptions=True)
        await next_one
        assert (admission.running, admission.waiting) == (1, 0)

    asyncio.run(scenario())


def test_closing_sends_waiters_away_and_refuses_newcomers() -> None:
    async def scenario() -> None:
        admission = Admission(1, 5)
        await admission.enter()
        waiters = [asyncio.ensure_future(admission.enter()) for _ in range(3)]
        await _settle()
        admission.close()
        results = await asyncio.gather(*waiters, return_exceptions=True)
        assert all(isinstance(r, LineClosedError) for r in results)
        assert (admission.running, admission.waiting) == (1, 0)
        with pytest.raises(LineClosedError):
            admission.check()
        admission.leave()
        assert admission.running == 0

    asyncio.run(scenario())


def test_without_a_line_a_busy_server_refuses_at_once() -> None:
    async def scenario() -> None:
        admission = Admission(2, 0)
        await admission.enter()
        await admission.enter()
        with pytest.raises(QueueFullError):
            await admission.enter()

    asyncio.run(scenario())


def test_upload_slots_are_bounded_and_count_stored_bytes() -> None:
    slots = UploadSlots(2)
    with slots.slot() as first, slots.slot() as second:
        first.add(100)
        second.add(20)
        assert (slots.count, slots.stored_bytes) == (2, 120)
        with pytest.raises(TooManyUploadsError), slots.slot():
            pass
    assert (slots.count, slots.stored_bytes) == (0, 0)


def test_an_upload_slot_is_freed_when_the_upload_fails() -> None:
    slots = UploadSlots(1)
    with pytest.raises(RuntimeError), slots.slot():
        raise RuntimeError
    with slots.slot():
        assert slots.count == 1


def test_one_client_holds_at_most_its_share_of_upload_slots() -> None:
    slots = UploadSlots(4, per_client=2)
    with slots.slot("a"), slots.slot("a"):
        with pytest.raises(ClientUploadsError), slots.slot("a"):
            pass
        with slots.slot("b"), slots.slot("b"):
            assert slots.count == 4 and slots.load == 1.0
            with pytest.raises(TooManyUploadsError), slots.slot("c"):
                pass
    with slots.slot("a"), slots.slot("a"):  # released: the client's share is back
        assert slots.count == 2 and slots.load == 0.5


@pytest.mark.parametrize(
    ("host", "key"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:bbbb::9", "2001:db8:1:2::/64"),  # the same /64: one subscriber
        ("::ffff:203.0.113.7", "203.0.113.7"),
        (None, ""),
        ("unix-peer", "unix-peer"),
    ],
)
def test_clients_are_counted_by_address_or_ipv6_64(host: str | None, key: str) -> None:
    assert client_key(host) == key


def test_with_every_slot_taken_a_newcomer_takes_the_slowest_judged_uploads_slot() -> None:
    now = [0.0]
    slots = UploadSlots(3, slow_rate=1000, clock=lambda: now[0])
    with slots.slot("a") as fast, slots.slot("b") as slow, slots.slot("c") as slower:
        now[0] = 0.5  # not judged yet: nobody's slot can be taken
        with pytest.raises(TooManyUploadsError), slots.slot("d"):
            pass
        now[0] = 2.0
        fast.add(10_000)  # 5000 bytes/s
        slow.add(1500)  # 750 bytes/s
        slower.add(1000)  # 500 bytes/s
        with slots.slot("d") as newcomer:
            assert slower.cut and not slow.cut and not fast.cut
            assert slots.count == 3 and not newcomer.cut
            with slots.slot("e"):  # the next one takes the next slowest under the rate
                assert slow.cut and not fast.cut
                with pytest.raises(TooManyUploadsError), slots.slot("f"):
                    pass  # the rest are fast enough, or not judged yet
        assert slots.count == 1  # the cut uploads' slots were given away, not given back twice
    assert slots.count == 0


def test_a_slot_that_is_not_cuttable_is_never_taken_by_a_newcomer() -> None:
    now = [0.0]
    slots = UploadSlots(1, slow_rate=1000, clock=lambda: now[0])
    with slots.slot("a", cuttable=False) as download:  # stores nothing the slots can see: rate 0
        now[0] = 100.0
        with pytest.raises(TooManyUploadsError), slots.slot("b"):
            pass
        assert not download.cut and slots.count == 1
    assert slots.count == 0


def test_without_a_slow_rate_no_slot_is_taken_away() -> None:
    now = [0.0]
    slots = UploadSlots(1, clock=lambda: now[0])
    with slots.slot("a") as first:
        now[0] = 100.0
        with pytest.raises(TooManyUploadsError), slots.slot("b"):
            pass
        assert not first.cut


def test_on_queued_hears_each_request_that_has_to_wait_with_the_line_as_it_then_is() -> None:
    async def scenario() -> None:
        heard: list[int] = []
        admission = Admission(1, 2, on_queued=lambda: heard.append(admission.waiting))
        await admission.enter()  # a free slot: nobody waits
        assert heard == []
        waiters = [asyncio.ensure_future(admission.enter()) for _ in range(2)]
        await _settle()
        assert heard == [1, 2]
        for waiter in waiters:
            admission.leave()
            await waiter

    asyncio.run(scenario())
