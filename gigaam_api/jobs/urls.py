"""URLs a client may make the server call: only http(s) to hosts and ports the operator listed. Pure.

A URL is parsed by httpx, the client that then calls it, so what is checked is exactly what is
fetched: anything httpx would refuse (`http://h:80:80/`, a tab in the URL) is a 400 here.
"""

from __future__ import annotations

import httpx

from gigaam_api.errors import bad_request

DEFAULT_PORTS = {"http": 80, "https": 443}


def allowed_url(
    url: str, hosts: tuple[str, ...], ports: tuple[tuple[int, int], ...], *, param: str, setting: str
) -> httpx.URL:
    """`url` parsed, if its host is in `hosts` (case-insensitive) and its port in `ports` (inclusive
    ranges); a 400 naming `param` otherwise."""
    if not hosts:
        raise bad_request(f"`{param}` is off on this server ({setting} is empty).", param=param)
    try:
        parsed = httpx.URL(url.strip())
    except httpx.InvalidURL:
        raise bad_request(f"`{param}` is not a valid URL.", param=param) from None
    if parsed.scheme not in DEFAULT_PORTS or not parsed.host:
        raise bad_request(f"`{param}` must be an http(s) URL.", param=param)
    if parsed.host not in {_host(h) for h in hosts}:
        raise bad_request(f"The host {parsed.host!r} is not allowed for `{param}` ({setting}).", param=param)
    port = parsed.port or DEFAULT_PORTS[parsed.scheme]
    if not any(first <= port <= last for first, last in ports):
        raise bad_request(f"The port {port} is not allowed for `{param}` (JOBS_URL_PORTS).", param=param)
    return parsed


def _host(name: str) -> str:
    """A listed host as httpx spells a URL's (lower case, IDNA), so `пример.рф` matches its URLs."""
    try:
        return httpx.URL(f"http://{name.strip()}/").host or name.lower()
    except httpx.InvalidURL:
        return name.lower()
