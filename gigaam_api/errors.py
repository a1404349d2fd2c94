"""Errors that reach clients, in OpenAI's envelope: {"error": {message, type, param, code}}."""

from __future__ import annotations

import errno
from typing import Any


class APIError(Exception):
    """An error with everything needed to answer the client; `message` must be safe to show."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return error_body(self.message, type=self.type, param=self.param, code=self.code)


def error_body(
    message: str,
    *,
    type: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def busy(message: str, code: str, *, retry_after: int, close: bool = False) -> APIError:
    """A 503 the client should retry after `retry_after` seconds (`close`: on a new connection)."""
    headers = {"Retry-After": str(retry_after)} | ({"Connection": "close"} if close else {})
    return APIError(503, message, type="server_error", code=code, headers=headers)


def bad_request(message: str, *, param: str | None = None, code: str | None = None) -> APIError:
    return APIError(400, message, param=param, code=code)


def spool_full() -> APIError:
    """The spool's byte budget (SPOOL_MAX_MB) has no room for the request."""
    message = (
        "The server's temporary storage for uploads and decoded audio is full (SPOOL_MAX_MB). Retry later."
    )
    return busy(message, "spool_full", retry_after=30)  # space frees only as running jobs end


def disk_full() -> APIError:
    """The file system under SPOOL_DIR or JOBS_DIR ran out of space (ENOSPC) below the byte budgets."""
    message = "The server's disk is full: the request could not be stored. Retry later."
    return busy(message, "disk_full", retry_after=60)


def is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)
