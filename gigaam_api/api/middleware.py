"""Pure ASGI middleware: keep-alive hygiene, a request id on every response and log line, Bearer auth."""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Sequence

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gigaam_api.errors import disk_full, error_body, is_disk_full
from gigaam_api.logs import request_id

log = logging.getLogger(__name__)

# Public without a key: the probes. The app adds the web page and its assets (`web.assets`), so the page
# can ask for a key; the page's API calls are not public.
PUBLIC_PATHS = frozenset({"/health", "/ready"})


class CloseUnreadBodyMiddleware:
    """Add `Connection: close` to a response sent before the request body was read to its end.

    The unread rest of the body would otherwise be taken for the next request on the connection;
    closing is what keeps a client's mistake (or an early refusal) from poisoning a keep-alive
    connection. uvicorn closes the connection after such a response.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        unread = headers.get("content-length", "0").strip() != "0" or "transfer-encoding" in headers

        async def watch_receive() -> Message:
            nonlocal unread
            message = await receive()
            if message["type"] == "http.request" and not message.get("more_body", False):
                unread = False
            return message

        async def send_close(message: Message) -> None:
            if message["type"] == "http.response.start" and unread:
                MutableHeaders(scope=message)["connection"] = "close"
            await send(message)

        await self.app(scope, watch_receive, send_close)


class RequestIdMiddleware:
    """A request id on every response and log line; unhandled errors become one logged 500 (a full disk,
    ENOSPC wherever it was not handled, a 503 `disk_full`).

    Starlette's own 500 handler sits outside every user middleware, so its response had no id, and
    it re-raised to uvicorn, which logged a second traceback; here the error is logged once, with the id.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = f"req_{secrets.token_hex(12)}"
        # Not reset afterwards: uvicorn runs each request in its own task (its own context), and
        # uvicorn's lines after the app returns belong to this request too.
        request_id.set(rid)
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                MutableHeaders(scope=message)["x-request-id"] = rid
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            if is_disk_full(exc):  # wherever it happened (a spool file, the job store's disk): a 503
                log.error("the disk is full: %s", exc)
                error = disk_full()
                response = JSONResponse(error.body(), status_code=error.status, headers=error.headers)
            else:
                log.exception("unhandled error")
                response = JSONResponse(
                    error_body("The server had an internal error.", type="server_error"), status_code=500
                )
            if not started:  # otherwise the response is cut short and uvicorn closes the connection
                await response(scope, receive, send_with_id)


def bearer_matches(header: str, keys: Sequence[bytes]) -> bool:
    """Whether an Authorization header is `Bearer <one of keys>`."""
    scheme, _, token = header.partition(" ")
    given = token.strip().encode()
    # Compare against every key, always, so timing does not tell which one (or whether any) matched.
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(given, key)
    return scheme.lower() == "bearer" and matched


class BearerAuthMiddleware:
    """With API_KEY set, every path but PUBLIC_PATHS and `public` needs `Authorization: Bearer <key>`."""

    def __init__(self, app: ASGIApp, keys: tuple[str, ...], public: frozenset[str] = frozenset()) -> None:
        self.app = app
        self._keys = [k.encode() for k in keys]
        self._public = PUBLIC_PATHS | public

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._keys or scope["path"] in self._public:
            await self.app(scope, receive, send)
            return
        header = Headers(scope=scope).get("authorization", "")
        if bearer_matches(header, self._keys):
            await self.app(scope, receive, send)
            return
        _, _, token = header.partition(" ")
        message = (
            "Incorrect API key provided." if token else "Missing API key: send `Authorization: Bearer <key>`."
        )
        response = JSONResponse(
            error_body(message, code="invalid_api_key"),
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
        await response(scope, receive, send)
