"""URLs a client may make the server call: only http(s) to hosts the operator listed. Pure."""

from __future__ import annotations

from urllib.parse import urlsplit

from gigaam_api.errors import bad_request


def allowed_url(url: str, hosts: tuple[str, ...], *, param: str, setting: str) -> str:
    """`url` if its host is in `hosts` (case-insensitive); a 400 naming `param` otherwise."""
    if not hosts:
        raise bad_request(f"`{param}` is off on this server ({setting} is empty).", param=param)
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise bad_request(f"`{param}` must be an http(s) URL.", param=param)
    if parts.hostname.lower() not in {h.lower() for h in hosts}:
        raise bad_request(
            f"The host {parts.hostname!r} is not allowed for `{param}` ({setting}).", param=param
        )
    return url
