"""JSON request bodies, parsed strictly: only what JSON (RFC 8259) and Unicode allow reaches a route.

Python's `json` accepts `NaN` and `Infinity`, turns `1e400` into infinity, and lets `"\\ud800"` (or raw
surrogate bytes) through as a lone surrogate, which no UTF-8 encoder downstream takes (the response,
zlib, SQLite, Redis, pydantic): each was a 500 somewhere. JSON is the only way such text gets in
(multipart fields, query strings and paths are decoded with replacement characters, headers as
Latin-1), so every JSON body is parsed here, and any of these is a 400. Pure.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator

from gigaam_api.errors import APIError, bad_request

MAX_PATH_CHARS = 100  # of the path shown in an error (object keys may be long)


def malformed() -> APIError:
    return bad_request("The JSON body is malformed.")


def loads_strict(data: bytes) -> object:
    """The parsed body; a 400 `APIError` if it is not JSON, or holds a non-finite number or bad text."""
    try:
        document: object = json.loads(data, parse_constant=_not_finite, parse_float=_finite)
    except _NonFiniteError:
        raise bad_request(
            "The JSON body holds a number that is not finite (NaN, Infinity, or too large such as 1e400).",
            code="invalid_number",
        ) from None
    except (ValueError, RecursionError):  # ValueError covers bad UTF-8 and integers of 4300+ digits
        raise malformed() from None
    if (where := lone_surrogate_at(document)) is not None:
        shown = where if len(where) <= MAX_PATH_CHARS else where[: MAX_PATH_CHARS - 1] + "…"
        raise bad_request(
            "The JSON body holds text that is not valid Unicode (a lone surrogate) in "
            f"{shown or 'its top level'}.",
            param=shown or None,
            code="invalid_unicode",
        )
    return document


def lone_surrogate_at(value: object) -> str | None:
    """The dotted path of the first string (or object key) holding a lone surrogate, or None."""
    for path, text in _strings(value, ""):
        if not _encodable(text):
            return path
    return None


def _strings(value: object, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield path, key  # a bad key is reported at its object: the path must not hold it
            yield from _strings(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, f"{path}.{index}" if path else str(index))


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class _NonFiniteError(ValueError):
    pass


def _not_finite(constant: str) -> float:
    raise _NonFiniteError(constant)  # NaN, Infinity, -Infinity: not JSON, though Python writes them


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):  # 1e400: too large for a float
        raise _NonFiniteError(text)
    return number
