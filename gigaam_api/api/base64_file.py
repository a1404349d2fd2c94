"""Base64 text arriving in pieces of any length, decoded into a file within a size limit (a JSON body's
audio, a data URL's clip): never held whole in memory."""

from __future__ import annotations

import binascii
import hashlib
import os
from collections.abc import Callable
from pathlib import Path

from gigaam_api.errors import APIError

_WHITESPACE = b" \t\r\n"


class Base64File:
    """Decodes base64 text arriving in pieces of any length into a file, within a size limit."""

    def __init__(
        self,
        path: Path,
        limit_bytes: int,
        charge: Callable[[int], None],
        *,
        invalid: Callable[[], APIError],
        too_large: Callable[[int], APIError],
    ) -> None:
        """`charge(n)` before `n` more bytes are written (it may raise); `invalid()` is raised for text
        that is not base64, `too_large(limit_bytes)` past the limit."""
        self._invalid = invalid
        self._too_large = too_large
        self.size = 0
        self.sha256 = hashlib.sha256()  # as multipart uploads are: the dedup key needs no second read
        self._fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CREAT, 0o600)
        self._limit = limit_bytes
        self._charge = charge
        self._carry = b""  # fewer than 4 characters: the start of the next quantum
        self._padded = False  # a quantum with `=` was seen: nothing may follow

    def write(self, text: bytes) -> None:
        if not text:
            return
        text = text.translate(None, _WHITESPACE)  # line-wrapped base64 (`base64`, MIME) is still base64
        if not text:
            return
        if self._padded:
            raise self._invalid()
        text = self._carry + text
        cut = len(text) - len(text) % 4
        self._carry = text[cut:]
        self._decode(text[:cut])

    def finish(self) -> None:
        carry, self._carry = self._carry, b""
        if len(carry) == 1 or (carry and self._padded):
            raise self._invalid()
        self._decode(carry + b"=" * (-len(carry) % 4))  # unpadded base64 is accepted

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _decode(self, quanta: bytes) -> None:
        if not quanta:
            return
        try:
            data = binascii.a2b_base64(quanta, strict_mode=True)
        except binascii.Error:
            raise self._invalid() from None
        self._padded = quanta.endswith(b"=")
        self.size += len(data)
        if self.size > self._limit:
            raise self._too_large(self._limit)
        self._charge(len(data))
        self.sha256.update(data)
        view = memoryview(data)
        while view:  # a write to a regular file may still be partial
            view = view[os.write(self._fd, view) :]
