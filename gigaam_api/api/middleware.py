"""Pure ASGI middleware: a request id on every response and log line, and Bearer auth."""

from __future__ import annotations

import hmac
import secrets

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gigaam_api.errors import error_body
from gigaam_api.logs import request_id
from gigaam_api.web.assets import PUBLIC_PAGE_PATHS

# The web page and its assets are public so the page can ask for a key; its API calls are not.
PUBLIC_PATHS = frozenset({"/health", "/ready", *PUBLIC_PAGE_PATHS})


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = f"req_{secrets.token_hex(12)}"
        token = request_id.set(rid)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["x-request-id"] = rid
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id.reset(token)


class BearerAuthMiddleware:
    """With API_KEY set, every path but PUBLIC_PATHS needs `Authorization: Bearer <key>`."""

    def __init__(self, app: ASGIApp, keys: tuple[str, ...]) -> None:
        self.app = app
        self._keys = [k.encode() for k in keys]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._keys or scope["path"] in PUBLIC_PATHS:
            await self.app(scope, receive, send)
            return
        header = Headers(scope=scope).get("authorization", "")
        scheme, _, token = header.partition(" ")
        given = token.strip().encode()
        # Compare against every key, always, so timing does not tell which one (or whether any) matched.
        matched = False
        for key in self._keys:
            matched |= hmac.compare_digest(given, key)
        if scheme.lower() == "bearer" and matched:
            await self.app(scope, receive, send)
            return
        message = (
            "Incorrect API key provided." if token else "Missing API key: send `Authorization: Bearer <key>`."
        )
        response = JSONResponse(
            error_body(message, code="invalid_api_key"),
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
        await response(scope, receive, send)
