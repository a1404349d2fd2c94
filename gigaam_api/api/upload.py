"""Streaming multipart parsing: form fields into memory, the `file` part straight into a spool file.

The upload is never held in memory and written once. MAX_UPLOAD_MB is enforced on the file part as
it arrives, so an oversized upload is refused as soon as it passes the limit.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from gigaam_api.errors import APIError, bad_request

MAX_FIELD_BYTES = 64 * 1024
MAX_FIELDS = 1000


def too_large(limit_bytes: int) -> APIError:
    mb = limit_bytes / (1024 * 1024)
    return APIError(
        413,
        f"The uploaded file is larger than the limit of {mb:g} MB (MAX_UPLOAD_MB).",
        param="file",
        code="file_too_large",
    )


@dataclass
class Upload:
    fields: list[tuple[str, str]] = field(default_factory=list)
    file_size: int | None = None  # None: no `file` part was sent


class _Collector:
    """python-multipart callbacks: route each part to a field buffer or the spool file."""

    def __init__(self, spool_path: Path, limit_bytes: int) -> None:
        self.upload = Upload()
        self._spool_path = spool_path
        self._limit = limit_bytes
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._headers: dict[bytes, bytes] = {}
        self._name: str | None = None
        self._is_file = False
        self._buffer = bytearray()
        self._fd: int | None = None
        self._file_seen = False

    def callbacks(self) -> dict[str, object]:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": lambda d, s, e: self._header_field.extend(d[s:e]),
            "on_header_value": lambda d, s, e: self._header_value.extend(d[s:e]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }

    def _part_begin(self) -> None:
        self._headers = {}
        self._name = None
        self._is_file = False
        self._buffer.clear()

    def _header_end(self) -> None:
        self._headers[bytes(self._header_field).lower()] = bytes(self._header_value)
        self._header_field.clear()
        self._header_value.clear()

    def _headers_finished(self) -> None:
        _, params = parse_options_header(self._headers.get(b"content-disposition", b""))
        self._name = params.get(b"name", b"").decode("utf-8", "replace")
        if self._name == "file":
            if self._file_seen:
                raise bad_request("Only one `file` part may be sent.", param="file")
            self._file_seen = True
            self._is_file = True
            self.upload.file_size = 0
            self._fd = os.open(self._spool_path, os.O_WRONLY | os.O_TRUNC | os.O_CREAT, 0o600)
        elif len(self.upload.fields) >= MAX_FIELDS:
            raise bad_request("Too many form fields.")

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._is_file:
            assert self._fd is not None and self.upload.file_size is not None
            self.upload.file_size += end - start
            if self.upload.file_size > self._limit:
                raise too_large(self._limit)
            os.write(self._fd, data[start:end])
        else:
            self._buffer.extend(data[start:end])
            if len(self._buffer) > MAX_FIELD_BYTES:
                raise bad_request(f"Form field `{self._name}` is too long.", param=self._name)

    def _part_end(self) -> None:
        if self._is_file:
            self.close()
        elif self._name:
            self.upload.fields.append((self._name, self._buffer.decode("utf-8", "replace")))

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


async def receive_upload(request: Request, spool_path: Path, limit_bytes: int) -> Upload:
    """Parse the multipart body of `request`, writing the `file` part to `spool_path`."""
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise bad_request("The request body must be multipart/form-data with a `file` part.")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit_bytes + MAX_FIELDS * MAX_FIELD_BYTES:
        raise too_large(limit_bytes)
    collector = _Collector(spool_path, limit_bytes)
    parser = MultipartParser(boundary, collector.callbacks())  # type: ignore[arg-type]
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError:
        raise bad_request("The multipart/form-data body is malformed.") from None
    finally:
        collector.close()
    return collector.upload
