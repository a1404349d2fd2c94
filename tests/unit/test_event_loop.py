"""The server's event loop: accept failures at the open-file limit are logged once per interval."""

from __future__ import annotations

import asyncio
import errno
import logging
import socket

import pytest

from gigaam_api.api.event_loop import ACCEPT_ERROR, AcceptErrorLog, ServerEventLoop


def _emfile() -> dict[str, object]:
    return {"message": ACCEPT_ERROR, "exception": OSError(errno.EMFILE, "Too many open files")}


def test_accept_failures_are_reported_once_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    handler = AcceptErrorLog(interval=60, clock=lambda: now[0])
    loop = asyncio.new_event_loop()
    try:
        with caplog.at_level(logging.ERROR, logger="gigaam_api.api.event_loop"):
            for second in range(0, 130):  # 2048 failed accepts a second, as asyncio's loop makes them
                now[0] = float(second)
                for _ in range(2048):
                    handler(loop, _emfile())
    finally:
        loop.close()
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 3  # at 0 s, 60 s and 120 s
    assert "Too many open files (1 failed accept(s)" in messages[0]
    assert f"({60 * 2048} failed accept(s) since the last report" in messages[1]
    assert all(r.exc_info is None for r in caplog.records)  # no tracebacks


def test_other_loop_errors_are_logged_as_asyncio_would(caplog: pytest.LogCaptureFixture) -> None:
    loop = asyncio.new_event_loop()
    try:
        with caplog.at_level(logging.ERROR):
            AcceptErrorLog()(loop, {"message": "something else", "exception": RuntimeError("boom")})
    finally:
        loop.close()
    assert [r.getMessage() for r in caplog.records] == ["something else"]
    assert caplog.records[0].exc_info is not None


def test_one_failed_accept_ends_the_turn_of_accepting() -> None:
    """CPython gh-151615: after EMFILE, asyncio went on with `backlog` more attempts, each with a retry."""
    attempts: list[int] = []
    retries: list[object] = []

    class Listener:
        def accept(self) -> tuple[socket.socket, object]:
            attempts.append(1)
            raise OSError(errno.EMFILE, "Too many open files")

        def fileno(self) -> int:
            return 1_000_000  # never registered: `_remove_reader` finds nothing

    loop = ServerEventLoop()
    loop.set_exception_handler(lambda _loop, _context: None)
    loop.call_later = lambda *args, **kwargs: retries.append(args)  # type: ignore[method-assign,assignment]
    try:
        loop._accept_connection(lambda: None, Listener(), backlog=2048)
    finally:
        loop.close()
    assert len(attempts) == 1 and len(retries) == 1
