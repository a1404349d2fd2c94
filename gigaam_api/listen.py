"""The server's listening sockets, bound by `serve` itself so a busy port gets a plain message, and the
address a person opens once the model is ready."""

from __future__ import annotations

import errno
import ipaddress
import socket

# `serve`'s exit status when it cannot listen on HOST:PORT (1 is a model or store problem, 2 a setting).
EXIT_CANNOT_LISTEN = 4


class CannotListenError(Exception):
    """HOST:PORT cannot be bound: in use, not an address of this machine, or a privileged port."""


def bind(host: str, port: int) -> list[socket.socket]:
    """One listening socket per address `host` resolves to, bound as uvicorn would bind them (asyncio's
    `create_server`: SO_REUSEADDR, IPv6 sockets IPv6-only)."""
    try:
        found = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise CannotListenError(f"HOST={host} cannot be resolved: {exc.strerror}") from None
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(found):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        raise CannotListenError(_explain(exc, host, port)) from None
    return sockets


def _explain(exc: OSError, host: str, port: int) -> str:
    if exc.errno == errno.EADDRINUSE:
        return f"port {port} is in use: set PORT=… or stop the other server"
    if exc.errno == errno.EACCES:
        return (
            f"port {port} needs root (ports below 1024 are privileged): set PORT=8000 or another above 1023"
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"HOST={host} is not an address of this machine: set HOST=127.0.0.1, or HOST=0.0.0.0 for all"
    return f"cannot listen on {host}:{port}: {exc.strerror}"


def browser_url(host: str, port: int) -> str:
    """The address to open on this machine: a wildcard HOST (every interface) is reached as loopback."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return f"http://{host}:{port}/"
    if ip.is_unspecified:
        ip = ipaddress.ip_address("::1" if ip.version == 6 else "127.0.0.1")
    return f"http://[{ip}]:{port}/" if ip.version == 6 else f"http://{ip}:{port}/"


def other_machines_hint(host: str, port: int) -> str:
    """What the ready line adds for other machines: a wildcard HOST's loopback URL does not work there."""
    try:
        wildcard = ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return ""
    return f" (from other machines: http://<this machine's address>:{port}/)" if wildcard else ""


def reachable_from_elsewhere(host: str) -> bool:
    """Whether HOST lets other machines connect: every interface, or an address or name not loopback."""
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host != "localhost"
