"""Cancelling a transcription by the request id the server gave it (`x-request-id`).

A request is cancellable from the end of its upload (waiting in line, running, streaming) until its
response is done. `DELETE /v1/audio/transcriptions/{id}` sets the request's event; the request then
leaves the line or detaches from its run, and a run left with no client stops at once (no grace).
With API keys, only the key that made the request may cancel it (another key gets a 404).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from gigaam_api.errors import APIError
from gigaam_api.jobs.service import owner_of

DISCONNECT_POLL_SECONDS = 0.25  # how soon a client that gave up while waiting is noticed

# nginx's "client closed request": what a request its client left or cancelled answers (the access log
# shows why; a client still listening after its DELETE reads the error envelope).
CLIENT_CLOSED = 499


class RequestCancelledError(APIError):
    """What a cancelled request answers if its client still listens (a body, or an SSE error event)."""

    def __init__(self) -> None:
        super().__init__(
            CLIENT_CLOSED,
            "The transcription was cancelled (DELETE /v1/audio/transcriptions/{request_id}).",
            code="request_cancelled",
        )


def not_found(request_id: str) -> APIError:
    return APIError(
        404,
        f"No transcription in progress with request id {request_id!r}.",
        param="request_id",
        code="request_not_found",
    )


def request_owner(request: Request, keys: tuple[str, ...]) -> str:
    """Who may cancel the request: its API key's digest, as for jobs ("" when the server has no keys)."""
    if not keys:
        return ""
    _, _, token = request.headers.get("authorization", "").partition(" ")
    return owner_of(token.strip())  # the middleware has checked it is one of API_KEY


@dataclass
class _Cancellable:
    owner: str
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)


class Cancellations:
    """The transcription requests in progress, by request id; used from the event loop only."""

    def __init__(self) -> None:
        self._open: dict[str, _Cancellable] = {}

    @property
    def request_ids(self) -> frozenset[str]:
        """The requests that may be cancelled now (for tests and operators)."""
        return frozenset(self._open)

    @contextmanager
    def register(self, request_id: str, owner: str) -> Iterator[asyncio.Event]:
        """While the block runs, `cancel(request_id, owner)` sets the event it yields."""
        entry = _Cancellable(owner)
        self._open[request_id] = entry
        try:
            yield entry.cancelled
        finally:
            if self._open.get(request_id) is entry:
                del self._open[request_id]

    def cancel(self, request_id: str, owner: str) -> bool:
        """Whether a request with this id made with this key is in progress (it is now cancelled)."""
        entry = self._open.get(request_id)
        if entry is None or entry.owner != owner:
            return False
        entry.cancelled.set()
        return True


async def wait_while_wanted(request: Request, work: asyncio.Future[Any], cancelled: asyncio.Event) -> bool:
    """Wait for `work` (its exception is raised) while the client still wants it: False if the client
    disconnected first, `RequestCancelledError` if it was cancelled first. `work` is cancelled then."""
    cancel = asyncio.ensure_future(cancelled.wait())
    try:
        while not work.done():
            await asyncio.wait(
                {work, cancel}, timeout=DISCONNECT_POLL_SECONDS, return_when=asyncio.FIRST_COMPLETED
            )
            if work.done():
                break
            if cancelled.is_set():
                raise RequestCancelledError
            if await request.is_disconnected():
                return False
        work.result()
        return True
    finally:
        for pending in (work, cancel):
            pending.cancel()
        await asyncio.gather(work, cancel, return_exceptions=True)
