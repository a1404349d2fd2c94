"""A job's audio from a URL: allowed hosts and ports only (redirects too), a size limit, an overall deadline.

Whatever goes wrong on the network (no connection, an HTTP error, a timeout, a redirect elsewhere) is
one neutral 400: the answer must not tell a caller which ports or paths of an allowed host exist.
The detail goes to the server's log.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

import httpx

from gigaam_api.errors import APIError, bad_request
from gigaam_api.jobs.urls import allowed_url

MAX_REDIRECTS = 3
NOT_FETCHED = "The audio URL could not be fetched."
_HEADERS = {"Accept-Encoding": "identity"}  # the declared length is then the stored size

log = logging.getLogger(__name__)


class _NotFetchedError(Exception):
    """A network-side failure; its message is for the log only."""


async def download(
    url: str,
    target: Path,
    *,
    hosts: tuple[str, ...],
    ports: tuple[tuple[int, int], ...],
    max_bytes: int,
    timeout: float,
    reserve: Callable[[int], None],
) -> int:
    """Write the body at `url` to `target`; its size. `reserve(n)` is called once the body's size is
    known (its Content-Length, else `max_bytes`) and may refuse it. Refusals are 400s on `url`."""
    checked = allowed_url(url, hosts, ports, param="url", setting="JOBS_URL_HOSTS")
    try:
        async with asyncio.timeout(timeout), httpx.AsyncClient(timeout=timeout, headers=_HEADERS) as client:
            for _ in range(MAX_REDIRECTS + 1):
                async with client.stream("GET", checked) as response:
                    if response.is_redirect:
                        location = checked.join(response.headers.get("location", ""))
                        try:
                            checked = allowed_url(str(location), hosts, ports, param="url", setting="")
                        except APIError as exc:
                            raise _NotFetchedError(f"redirect refused: {exc.message}") from None
                        continue
                    if not response.is_success:
                        raise _NotFetchedError(f"HTTP {response.status_code}")
                    return await _save(response, target, max_bytes, reserve)
            raise _NotFetchedError(f"more than {MAX_REDIRECTS} redirects")
    except (TimeoutError, httpx.HTTPError, httpx.InvalidURL, _NotFetchedError) as exc:
        log.info("the audio URL could not be fetched: %s", str(exc) or type(exc).__name__)
        raise bad_request(NOT_FETCHED, param="url") from None


async def _save(
    response: httpx.Response, target: Path, max_bytes: int, reserve: Callable[[int], None]
) -> int:
    declared = response.headers.get("content-length", "")
    expected = int(declared) if declared.isdigit() else max_bytes
    if expected > max_bytes:
        raise _too_large(max_bytes)
    reserve(expected)
    size = 0
    with target.open("wb") as out:
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > max_bytes:
                raise _too_large(max_bytes)
            if size > expected:  # more than declared (a decoded Content-Encoding): the whole limit
                expected = max_bytes
                reserve(expected)
            out.write(chunk)
    return size


def _too_large(max_bytes: int) -> APIError:
    return APIError(
        413, f"The audio at the URL is larger than {max_bytes} bytes.", param="url", code="file_too_large"
    )
