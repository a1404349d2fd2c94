"""The request body, read once from ASGI `receive` with a size cap, an idle timeout and a minimum rate.

The parser reads it, and after an early error the same reader drains what is left (when that is
little), so the body is never requested twice. Time limits follow Apache's mod_reqtimeout
(`body=20,MinRate=500`): the body must have started arriving by `grace` seconds, and every byte
received extends the deadline by `1 / min_rate` seconds; in addition no gap may exceed `idle`. The minimum
rate rises with the share of upload slots taken (`required_rate`), so that when slots run short the
uploads below the raised rate are cut and a few trickling clients cannot hold them all.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect
from starlette.types import Message, Receive

from gigaam_api.errors import APIError

DRAIN_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class BodyLimits:
    max_bytes: int
    idle_seconds: float
    min_bytes_per_second: float  # 0: no minimum rate
    rate_grace_seconds: float
    size_setting: str = "MAX_UPLOAD_MB plus MAX_FORM_FIELDS_BYTES"  # what the 413 names as the limit
    busy_min_bytes_per_second: float = 0.0  # the minimum rate when every upload slot is taken


def required_rate(limits: BodyLimits, load: float) -> float:
    """The minimum average rate while `load` (0 to 1) of the upload slots are taken.

    `min_bytes_per_second` up to half the slots, then rising linearly to `busy_min_bytes_per_second`
    when all are taken; 0 (no minimum) stays 0.
    """
    base = limits.min_bytes_per_second
    if base <= 0:
        return 0.0
    rise = max(0.0, limits.busy_min_bytes_per_second - base)
    return base + rise * min(1.0, max(0.0, 2 * load - 1))


def _never() -> bool:
    return False


def declared_length(headers: Headers) -> int | None:
    """The `Content-Length` the client declared, or None (absent, chunked, or not a number)."""
    value = headers.get("content-length", "")
    return int(value) if value.isdigit() else None


def too_slow(limits: BodyLimits, rate: float) -> APIError:
    return APIError(
        408,
        f"The upload is too slow: the body must arrive at {rate:.0f} bytes/s on average after the first "
        f"{limits.rate_grace_seconds:g} s (UPLOAD_MIN_BYTES_PER_SECOND, rising to "
        "UPLOAD_BUSY_MIN_BYTES_PER_SECOND while the upload slots run short).",
        code="upload_too_slow",
    )


def stalled(limits: BodyLimits) -> APIError:
    return APIError(
        408,
        f"The upload stalled: no data for {limits.idle_seconds:g} s (UPLOAD_IDLE_TIMEOUT_SECONDS).",
        code="upload_timeout",
    )


def body_too_large(limits: BodyLimits) -> APIError:
    mb = limits.max_bytes / (1024 * 1024)
    return APIError(
        413,
        f"The request body is larger than {mb:.3g} MB ({limits.size_setting}).",
        code="request_too_large",
    )


class BodyReader:
    """Reads one request's body; raises 408/413 `APIError`s and `ClientDisconnect`.

    `load()` says what share of the upload slots is taken now (see `required_rate`); `cut()` turning
    True (a newcomer took this upload's slot) ends the body at the next read with a 408.
    """

    def __init__(
        self,
        receive: Receive,
        limits: BodyLimits,
        declared: int | None = None,
        load: Callable[[], float] = lambda: 0.0,
    ) -> None:
        self._receive = receive
        self._load = load
        self.cut: Callable[[], bool] = _never
        self.limits = limits
        self.declared = declared
        self.received = 0
        self.complete = False
        self.failed = False  # a time or size limit was hit: the rest of the body is never read
        loop = asyncio.get_running_loop()
        self._clock = loop.time
        self._started = self._last = loop.time()

    async def read(self) -> bytes:
        """The next chunk (possibly empty); call only while not `complete`."""
        try:
            message = await self._next_message()
        except APIError:
            self.failed = True
            raise
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        chunk: bytes = message.get("body", b"")
        self.received += len(chunk)
        self._last = self._clock()
        self.complete = not message.get("more_body", False)
        if self.received > self.limits.max_bytes:
            self.failed = True
            raise body_too_large(self.limits)
        return chunk

    async def drain(self, max_bytes: int) -> bool:
        """Read and drop the rest of the body if at most `max_bytes` remain; True if it was all read.

        When it returns False, `CloseUnreadBodyMiddleware` marks the response `Connection: close`
        and the connection is closed after it.
        """
        if self.complete:
            return True
        if self.failed or (self.declared is not None and self.declared - self.received > max_bytes):
            return False
        budget = self.received + max_bytes
        try:
            # A refused client gets a few seconds to finish sending, not the upload's rate allowance:
            # a trickle must not hold a refused connection open for minutes.
            async with asyncio.timeout(DRAIN_SECONDS):
                while not self.complete and self.received <= budget:
                    await self.read()
        except (APIError, ClientDisconnect, TimeoutError):
            return False
        return self.complete

    async def _next_message(self) -> Message:
        if self.cut():
            raise too_slow(self.limits, required_rate(self.limits, 1.0))
        now = self._clock()
        idle_deadline = self._last + self.limits.idle_seconds
        rate_deadline = math.inf
        if (rate := required_rate(self.limits, self._load())) > 0:
            rate_deadline = self._started + self.limits.rate_grace_seconds + self.received / rate
        deadline = min(idle_deadline, rate_deadline)
        error = stalled(self.limits) if idle_deadline <= rate_deadline else too_slow(self.limits, rate)
        if deadline <= now:
            raise error
        try:
            async with asyncio.timeout(deadline - now):
                message = await self._receive()
        except TimeoutError:
            raise error from None
        return message
