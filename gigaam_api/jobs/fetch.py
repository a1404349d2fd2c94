"""A job's audio from a URL: allowed hosts only (redirects too), a size limit and an overall deadline."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import urljoin

import httpx

from gigaam_api.errors import APIError, bad_request
from gigaam_api.jobs.urls import allowed_url

MAX_REDIRECTS = 3


async def download(url: str, target: Path, *, hosts: tuple[str, ...], max_bytes: int, timeout: float) -> int:
    """Write the body at `url` to `target`; its size. Every refusal is a 400 on the `url` field."""
    try:
        async with asyncio.timeout(timeout), httpx.AsyncClient(timeout=timeout) as client:
            for _ in range(MAX_REDIRECTS + 1):
                url = allowed_url(url, hosts, param="url", setting="JOBS_URL_HOSTS")
                async with client.stream("GET", url) as response:
                    if response.is_redirect:
                        url = urljoin(url, response.headers.get("location", ""))
                        continue
                    if not response.is_success:
                        raise bad_request(f"The audio URL answered HTTP {response.status_code}.", param="url")
                    return await _save(response, target, max_bytes)
            raise bad_request(f"The audio URL redirects more than {MAX_REDIRECTS} times.", param="url")
    except TimeoutError:
        target.unlink(missing_ok=True)
        raise bad_request(f"The audio URL did not deliver within {timeout:g} s.", param="url") from None
    except httpx.HTTPError as exc:
        target.unlink(missing_ok=True)
        raise bad_request(
            f"The audio URL could not be fetched ({type(exc).__name__}).", param="url"
        ) from None
    except APIError:
        target.unlink(missing_ok=True)
        raise


async def _save(response: httpx.Response, target: Path, max_bytes: int) -> int:
    size = 0
    with target.open("wb") as out:
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > max_bytes:
                raise APIError(
                    413,
                    f"The audio at the URL is larger than {max_bytes} bytes.",
                    param="url",
                    code="file_too_large",
                )
            out.write(chunk)
    return size
