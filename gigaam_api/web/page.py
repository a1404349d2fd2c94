"""GET / (the page) and GET /web/<asset>: static files with a strict Content-Security-Policy."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from gigaam_api.errors import APIError
from gigaam_api.web.assets import ASSET_PREFIX, ASSETS, MEDIA_TYPES, PAGE_PATH, read_asset

router = APIRouter()

# Everything comes from this origin (no CDN); `blob:` is the microphone recording played back.
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; media-src 'self' blob:; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}


def _asset(name: str) -> Response:
    return Response(read_asset(name), media_type=MEDIA_TYPES[name], headers=_HEADERS)


@router.get(PAGE_PATH, include_in_schema=False)
async def page() -> Response:
    return _asset("index.html")


@router.get(ASSET_PREFIX + "{name}", include_in_schema=False)
async def asset(name: str) -> Response:
    if name not in ASSETS:
        raise APIError(404, f"Invalid URL (GET {ASSET_PREFIX}{name}).")
    return _asset(name)
