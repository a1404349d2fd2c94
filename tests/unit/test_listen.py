"""The address `serve` tells a person to open, and what it says when it cannot listen."""

from __future__ import annotations

import socket

import pytest

from gigaam_api.listen import (
    CannotListenError,
    bind,
    browser_url,
    other_machines_hint,
    reachable_from_elsewhere,
)


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("127.0.0.1", "http://127.0.0.1:8000/"),
        ("0.0.0.0", "http://127.0.0.1:8000/"),  # every interface: this machine reaches it as loopback
        ("::", "http://[::1]:8000/"),
        ("::1", "http://[::1]:8000/"),
        ("192.168.1.20", "http://192.168.1.20:8000/"),
        ("localhost", "http://localhost:8000/"),
    ],
)
def test_browser_url(host: str, url: str) -> None:
    assert browser_url(host, 8000) == url


def test_bind_listens_where_asked() -> None:
    sockets = bind("127.0.0.1", 0)
    try:
        assert [s.getsockname()[0] for s in sockets] == ["127.0.0.1"]
    finally:
        for s in sockets:
            s.close()


def test_a_busy_port_is_named() -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        with pytest.raises(
            CannotListenError, match=f"^port {port} is in use: set PORT=… or stop the other server$"
        ):
            bind("127.0.0.1", port)


def test_an_address_of_another_machine_is_named() -> None:
    # 192.0.2.0/24 is TEST-NET-1: never an address of this machine, so binding fails without any traffic.
    with pytest.raises(CannotListenError, match=r"^HOST=192\.0\.2\.1 is not an address of this machine"):
        bind("192.0.2.1", 8000)


@pytest.mark.parametrize(
    ("host", "hint"),
    [
        ("0.0.0.0", " (from other machines: http://<this machine's address>:8000/)"),
        ("::", " (from other machines: http://<this machine's address>:8000/)"),
        ("127.0.0.1", ""),
        ("192.168.1.20", ""),  # its URL already works from other machines
        ("localhost", ""),
    ],
)
def test_other_machines_hint(host: str, hint: str) -> None:
    assert other_machines_hint(host, 8000) == hint


@pytest.mark.parametrize(
    ("host", "open_"),
    [
        *[("0.0.0.0", True), ("::", True), ("192.168.1.20", True), ("gpu-box", True)],
        *[("127.0.0.1", False), ("127.0.0.2", False), ("::1", False), ("localhost", False)],
    ],
)
def test_reachable_from_elsewhere(host: str, open_: bool) -> None:
    assert reachable_from_elsewhere(host) is open_
