"""BodyReader against a scripted ASGI `receive`: limits, time limits, and when draining is allowed."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from starlette.requests import ClientDisconnect

from gigaam_api.api.request_body import BodyLimits, BodyReader, required_rate
from gigaam_api.errors import APIError

LIMITS = BodyLimits(max_bytes=1000, idle_seconds=30, min_bytes_per_second=0, rate_grace_seconds=0)


def scripted(*chunks: bytes, then_wait: bool = False) -> tuple[Callable[[], Awaitable[Any]], list[int]]:
    """A receive that hands out `chunks` (the last one ends the body unless `then_wait`), then blocks."""
    calls: list[int] = []
    pending = list(chunks)

    async def receive() -> dict[str, Any]:
        calls.append(1)
        if not pending:
            await asyncio.Event().wait()  # a client that sends nothing more
        chunk = pending.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(pending) or then_wait}

    return receive, calls


def test_reads_chunks_until_the_body_ends() -> None:
    async def main() -> list[bytes]:
        receive, _ = scripted(b"ab", b"", b"cd")
        body = BodyReader(receive, LIMITS)
        chunks = []
        while not body.complete:
            chunks.append(await body.read())
        return chunks

    assert asyncio.run(main()) == [b"ab", b"", b"cd"]


def test_more_than_max_bytes_is_413_and_never_drained() -> None:
    async def main() -> tuple[int, bool]:
        receive, _ = scripted(b"x" * 600, b"x" * 600, b"x")
        body = BodyReader(receive, LIMITS)
        await body.read()
        with pytest.raises(APIError) as info:
            await body.read()
        return info.value.status, await body.drain(10_000)

    assert asyncio.run(main()) == (413, False)


def test_drain_reads_a_small_rest_but_not_a_large_declared_one() -> None:
    async def small() -> bool:
        receive, _ = scripted(b"a", b"b", b"c")
        body = BodyReader(receive, LIMITS, declared=3)
        await body.read()
        return await body.drain(10) and body.complete

    async def large() -> tuple[bool, int]:
        receive, calls = scripted(b"a" * 100)
        body = BodyReader(receive, LIMITS, declared=10**10)
        return await body.drain(1024), len(calls)

    assert asyncio.run(small())
    assert asyncio.run(large()) == (False, 0)  # not even one receive: no 100 Continue


def test_drain_of_an_undeclared_body_stops_at_its_budget() -> None:
    async def main() -> bool:
        receive, _ = scripted(*[b"x" * 100] * 9)
        return await BodyReader(receive, LIMITS).drain(250)

    assert asyncio.run(main()) is False


def test_a_stalled_body_is_408_upload_timeout() -> None:
    limits = BodyLimits(max_bytes=1000, idle_seconds=0.05, min_bytes_per_second=0, rate_grace_seconds=0)

    async def main() -> str | None:
        receive, _ = scripted(b"abc", then_wait=True)
        body = BodyReader(receive, limits)
        await body.read()
        with pytest.raises(APIError) as info:
            await body.read()
        assert info.value.status == 408 and body.failed
        return info.value.code

    assert asyncio.run(main()) == "upload_timeout"


def test_a_body_below_the_minimum_rate_is_408_upload_too_slow() -> None:
    limits = BodyLimits(max_bytes=1000, idle_seconds=30, min_bytes_per_second=100, rate_grace_seconds=0.05)

    async def main() -> str | None:
        receive, _ = scripted(b"abc", then_wait=True)  # 3 bytes buy 30 ms beyond the grace period
        body = BodyReader(receive, limits)
        await body.read()
        with pytest.raises(APIError) as info:
            await body.read()
        return info.value.code

    assert asyncio.run(main()) == "upload_too_slow"


def test_a_disconnect_is_client_disconnect() -> None:
    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def main() -> None:
        await BodyReader(receive, LIMITS).read()

    with pytest.raises(ClientDisconnect):
        asyncio.run(main())


def test_drain_gives_a_silent_client_a_few_seconds_not_the_upload_allowance(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("gigaam_api.api.request_body.DRAIN_SECONDS", 0.05)

    async def main() -> bool:
        receive, _ = scripted(b"ab", then_wait=True)  # sends a little, then nothing, within the idle limit
        body = BodyReader(receive, LIMITS)
        await body.read()
        return await body.drain(1024)

    assert asyncio.run(main()) is False  # the connection is then closed instead of kept waiting


@pytest.mark.parametrize(
    ("load", "rate"),
    [(0.0, 1000), (0.5, 1000), (0.75, 5500), (1.0, 10_000)],
)
def test_the_minimum_rate_rises_past_half_the_upload_slots(load: float, rate: float) -> None:
    limits = BodyLimits(
        1000, 30, min_bytes_per_second=1000, rate_grace_seconds=0, busy_min_bytes_per_second=10_000
    )
    assert required_rate(limits, load) == rate


def test_no_minimum_rate_stays_none_however_busy() -> None:
    limits = BodyLimits(
        1000, 30, min_bytes_per_second=0, rate_grace_seconds=0, busy_min_bytes_per_second=10_000
    )
    assert required_rate(limits, 1.0) == 0


def test_a_body_that_was_fast_enough_is_cut_once_the_slots_run_short() -> None:
    # 1 byte/s while half the slots are taken (100 bytes buy 100 s), 1 GB/s when all are.
    limits = BodyLimits(
        1000,
        idle_seconds=30,
        min_bytes_per_second=1,
        rate_grace_seconds=0.05,
        busy_min_bytes_per_second=10**9,
    )
    load = [0.5]

    async def main() -> str:
        receive, _ = scripted(b"a" * 100, b"b" * 100, b"c" * 100, then_wait=True)
        body = BodyReader(receive, limits, load=lambda: load[0])
        await body.read()  # within the grace
        await asyncio.sleep(0.1)  # past the grace: 100 bytes are fast enough at half load...
        await body.read()
        load[0] = 1.0  # ...but not once every slot is taken
        with pytest.raises(APIError) as caught:
            await body.read()
        return str(caught.value.code)

    assert asyncio.run(main()) == "upload_too_slow"


def test_a_body_whose_slot_was_taken_ends_at_the_next_read() -> None:
    limits = BodyLimits(
        1000, idle_seconds=30, min_bytes_per_second=1, rate_grace_seconds=60, busy_min_bytes_per_second=5000
    )

    async def main() -> tuple[str, str]:
        receive, _ = scripted(b"a" * 100, b"b" * 100, then_wait=True)
        body = BodyReader(receive, limits)
        await body.read()
        body.cut = lambda: True  # a newcomer took the slot
        with pytest.raises(APIError) as caught:
            await body.read()
        return str(caught.value.code), caught.value.message

    code, message = asyncio.run(main())
    assert code == "upload_too_slow" and "5000 bytes/s" in message
