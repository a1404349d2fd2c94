"""The ready line for other machines: a wildcard HOST says how they reach it, and an open one without a key
warns. The server binds 127.0.0.1 whatever HOST says (tests/fixtures/live_server.py): nothing is exposed."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from tests.fixtures.live_server import LiveServer


def _ready_and_warnings(caplog: pytest.LogCaptureFixture) -> tuple[list[str], list[str]]:
    app_records = [r for r in caplog.records if r.name == "gigaam_api.app"]
    ready = [r.getMessage() for r in app_records if r.getMessage().startswith("ready — open")]
    warnings = [r.getMessage() for r in app_records if r.levelno == logging.WARNING]
    return ready, warnings


def test_every_interface_without_a_key_says_where_and_warns(
    make_server: Callable[..., LiveServer], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="gigaam_api.app"):
        make_server(HOST="0.0.0.0", PORT=8123)
    ready, warnings = _ready_and_warnings(caplog)
    assert len(ready) == 1, caplog.text
    assert ready[0].startswith(
        "ready — open http://127.0.0.1:8123/ (from other machines: http://<this machine's address>:8123/) — "
    ), ready
    assert warnings == [
        "HOST=0.0.0.0 lets other machines connect and API_KEY is empty: anyone who reaches port 8123 can use "
        "this server; set API_KEY=<a long random text> (docs/api.md: Authentication)"
    ]


@pytest.mark.parametrize(("host", "keys"), [("127.0.0.1", ()), ("0.0.0.0", ("sk-test",))])
def test_loopback_or_a_key_gives_no_warning(
    make_server: Callable[..., LiveServer], caplog: pytest.LogCaptureFixture, host: str, keys: tuple[str, ...]
) -> None:
    with caplog.at_level(logging.INFO, logger="gigaam_api.app"):
        make_server(HOST=host, PORT=8123, API_KEY=",".join(keys))
    ready, warnings = _ready_and_warnings(caplog)
    assert len(ready) == 1, caplog.text
    assert warnings == []
