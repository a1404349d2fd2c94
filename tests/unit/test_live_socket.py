"""api/live_socket.py against a client that never reads its answers: memory stays bounded and the session
still ends, releasing its slot. Fakes stand in for the socket so the order of events is exact."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any, cast

import pytest

from gigaam_api.api import live_socket
from gigaam_api.api.live_slots import LiveSlots
from gigaam_api.api.live_socket import OUTBOX_LIMIT, Link, Message
from gigaam_api.api.state import AppState
from gigaam_api.errors import APIError
from gigaam_api.live.events import LiveEvent, LiveSession

SENT = 10 * OUTBOX_LIMIT  # invalid messages the hostile client sends, each answered with an error


class Rejecting:
    """A protocol that answers every message with an error, as /v1/realtime does with garbage."""

    link: Link | None = None

    def greeting(self) -> list[Message]:
        return []

    async def on_text(self, text: str, link: Link) -> None:
        self.link = link
        link.send(self.error(APIError(400, "not JSON")))

    async def on_bytes(self, data: bytes, link: Link) -> None:
        raise AssertionError("no binary frames here")

    def render(self, event: LiveEvent) -> list[Message]:
        return []

    def error(self, error: APIError, event_id: str | None = None) -> Message:
        return {"type": "error", "error": {"message": error.message}}


class NeverReads:
    """A client that sends SENT messages at once and never reads: every send blocks for good."""

    def __init__(self, protocol: Rejecting) -> None:
        self.protocol = protocol
        self.received = 0
        self.most_waiting = 0
        self.closed = False

    async def accept(self, subprotocol: str | None = None) -> None:
        pass

    async def receive(self) -> dict[str, Any]:
        if self.protocol.link is not None:
            self.most_waiting = max(self.most_waiting, self.protocol.link.waiting)
        if self.received == SENT:
            await asyncio.Event().wait()  # then silence, the socket still open
        self.received += 1
        return {"type": "websocket.receive", "text": "x"}

    async def send_json(self, message: Message) -> None:
        await asyncio.Event().wait()

    async def close(self, code: int = 1000) -> None:
        self.closed = True


def test_a_client_that_never_reads_is_not_read_either_and_frees_its_slot() -> None:
    protocol = Rejecting()
    client = NeverReads(protocol)
    settings = SimpleNamespace(LIVE_MAX_SESSIONS=1, LIVE_IDLE_SECONDS=0.01, LIVE_MAX_SESSION_SECONDS=3600)
    state = cast(AppState, SimpleNamespace(settings=settings, live_slots=LiveSlots()))

    async def run() -> None:
        socket: Any = client
        # Bounds a hang of the old code; the session ends through the send timeout, long before.
        async with asyncio.timeout(60):
            await live_socket.serve(socket, state, protocol, subprotocol=None, on_final=lambda _: None)

    asyncio.run(run())
    assert client.most_waiting <= OUTBOX_LIMIT + 1  # answers held for it stay bounded
    assert client.received < SENT  # its messages were left unread once its answers piled up
    assert state.live_slots.open == 0


class RecordingSession:
    """A live session that records how it was ended."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self._ended = asyncio.Event()

    async def finish(self) -> None:
        self.calls.append("finish")
        self._ended.set()

    async def aclose(self) -> None:
        self.calls.append("aclose")
        self._ended.set()

    async def events(self) -> AsyncIterator[LiveEvent]:
        await self._ended.wait()
        return
        yield


class Failing(Rejecting):
    """Opens a session with the first message, then fails as an unexpected bug would."""

    def __init__(self) -> None:
        self.session = RecordingSession()

    async def on_text(self, text: str, link: Link) -> None:
        link.attach(cast(LiveSession, self.session))
        raise RuntimeError("an unexpected failure")


class SendsOnce(NeverReads):
    async def receive(self) -> dict[str, Any]:
        return {"type": "websocket.receive", "text": "x"}

    async def send_json(self, message: Message) -> None:
        pass


def test_an_unexpected_failure_still_ends_the_session_and_gives_its_lane_back() -> None:
    protocol = Failing()
    client = SendsOnce(protocol)
    settings = SimpleNamespace(LIVE_MAX_SESSIONS=1, LIVE_IDLE_SECONDS=60, LIVE_MAX_SESSION_SECONDS=3600)
    state = cast(AppState, SimpleNamespace(settings=settings, live_slots=LiveSlots()))

    async def run() -> None:
        socket: Any = client
        with pytest.raises(RuntimeError, match="unexpected"):
            await live_socket.serve(socket, state, protocol, subprotocol=None, on_final=lambda _: None)

    asyncio.run(run())
    assert protocol.session.calls == ["finish", "aclose"]  # buffered speech transcribed, the lane released
    assert state.live_slots.open == 0
