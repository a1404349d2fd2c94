"""Stream a multipart/form-data body: the `file` part goes straight to a spool file, fields to a list.

The upload is never held in memory and written once. Limits are enforced as the bytes arrive: the
file part against MAX_UPLOAD_MB, every other byte of the form (field values, part headers,
boundaries) against MAX_FORM_FIELDS_BYTES, each field against 64 KiB and the part count against
1000, so an oversized or hostile body is refused as soon as it passes a limit.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, MultipartState, parse_options_header
from starlette.datastructures import Headers

from gigaam_api.api import references
from gigaam_api.api.request_body import BodyReader
from gigaam_api.errors import APIError, bad_request
from gigaam_api.speakers.options import MAX_KNOWN_SPEAKERS

MAX_FIELD_BYTES = 64 * 1024
MAX_FIELDS = 1000
MAX_BOUNDARY_CHARS = 70  # RFC 2046 §5.1.1
# python-multipart logs a warning for every malformed body; the client's 400 is in the access log already.
_PARSER_LOG = logging.getLogger(__name__ + ".parser")
_PARSER_LOG.setLevel(logging.ERROR)
# Bytes of a body that no form limit counts: the closing boundary's dashes and CRLFs, an epilogue.
FRAMING_ALLOWANCE_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class FormLimits:
    file_bytes: int
    fields_bytes: int

    @property
    def body_bytes(self) -> int:
        """The largest body these limits can let through."""
        return self.file_bytes + self.fields_bytes + FRAMING_ALLOWANCE_BYTES


def file_too_large(limit_bytes: int) -> APIError:
    mb = limit_bytes / (1024 * 1024)
    return APIError(
        413,
        f"The uploaded file is larger than the limit of {mb:g} MB (MAX_UPLOAD_MB).",
        param="file",
        code="file_too_large",
    )


def declared_too_large(declared: int, limits: FormLimits) -> APIError:
    mb = limits.file_bytes / (1024 * 1024)
    return APIError(
        413,
        f"The request body ({declared} bytes declared in Content-Length) is larger than the upload "
        f"limit of {mb:g} MB (MAX_UPLOAD_MB) allows.",
        param="file",
        code="file_too_large",
    )


def fields_too_large(limit_bytes: int) -> APIError:
    return APIError(
        413,
        f"The form fields other than `file` take more than {limit_bytes} bytes (MAX_FORM_FIELDS_BYTES).",
        code="fields_too_large",
    )


def multipart_boundary(headers: Headers) -> bytes:
    """The body's multipart boundary; a 400 unless the request is multipart/form-data with a valid one."""
    content_type, params = parse_options_header(headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise bad_request(
            "The request body must be multipart/form-data with a `file` part, or application/json with "
            "`input_audio` (base64)."
        )
    if len(boundary) > MAX_BOUNDARY_CHARS:
        raise bad_request(
            f"The multipart boundary is {len(boundary)} characters long; at most "
            f"{MAX_BOUNDARY_CHARS} are allowed (RFC 2046)."
        )
    return boundary


@dataclass
class Upload:
    path: Path  # the `file` part, stored
    fields: list[tuple[str, str]] = field(default_factory=list)
    file_size: int | None = None  # None: no `file` part was sent
    sha256: str | None = None  # of the file's bytes, hashed as they streamed in (the dedup key's base)
    references: list[Path] = field(default_factory=list)  # known_speaker_references[] clips, in order

    async def digest(self) -> str:
        """The file's SHA-256: hashed as it streamed in, else read again (a JSON body's base64 audio)."""
        if self.sha256 is None:
            self.sha256 = await asyncio.to_thread(file_sha256, self.path)
        return self.sha256


def file_sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


class _Collector:
    """python-multipart callbacks: route each part to a field buffer or the spool file."""

    def __init__(
        self,
        spool_path: Path,
        limits: FormLimits,
        boundary: bytes,
        charge: Callable[[int], None],
        *,
        new_file: Callable[[], Path] | None = None,
    ) -> None:
        self.upload = Upload(spool_path)
        self._new_file = new_file
        self._reference: references.DataUrlFile | None = None
        self._spool_path = spool_path
        self._limits = limits
        self._boundary_bytes = len(boundary) + 4  # CRLF "--" boundary
        self._charge = charge
        self._form_bytes = 0
        self._parts = 0
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._headers: dict[bytes, bytes] = {}
        self._name: str | None = None
        self._is_file = False
        self._buffer = bytearray()
        self._fd: int | None = None
        self._file_seen = False
        self._hash = hashlib.sha256()

    def callbacks(self) -> dict[str, object]:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": lambda d, s, e: self._header_bytes(self._header_field, d[s:e]),
            "on_header_value": lambda d, s, e: self._header_bytes(self._header_value, d[s:e]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }

    def _count_form_bytes(self, nbytes: int) -> None:
        self._form_bytes += nbytes
        if self._form_bytes > self._limits.fields_bytes:
            raise fields_too_large(self._limits.fields_bytes)

    def _part_begin(self) -> None:
        self._parts += 1
        if self._parts > MAX_FIELDS + 1:
            raise bad_request(f"Too many form fields: at most {MAX_FIELDS} are allowed.")
        self._count_form_bytes(self._boundary_bytes)
        self._headers = {}
        self._name = None
        self._is_file = False
        self._reference = None
        self._buffer.clear()

    def _header_bytes(self, buffer: bytearray, data: bytes) -> None:
        self._count_form_bytes(len(data))
        buffer.extend(data)

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
        elif self._new_file is not None and references.is_reference(self._name):
            if len(self.upload.references) >= MAX_KNOWN_SPEAKERS:
                raise references.too_many_references()
            self._reference = references.DataUrlFile(self._new_file(), self._charge)
            self.upload.references.append(self._reference.path)

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._reference is not None:
            self._reference.write(data[start:end])
        elif self._is_file:
            assert self._fd is not None and self.upload.file_size is not None
            self.upload.file_size += end - start
            if self.upload.file_size > self._limits.file_bytes:
                raise file_too_large(self._limits.file_bytes)
            self._charge(end - start)
            chunk = data[start:end]
            os.write(self._fd, chunk)
            self._hash.update(chunk)
        else:
            self._count_form_bytes(end - start)
            self._buffer.extend(data[start:end])
            if len(self._buffer) > MAX_FIELD_BYTES:
                raise bad_request(
                    f"Form field `{self._name}` is longer than {MAX_FIELD_BYTES} bytes.", param=self._name
                )

    def _part_end(self) -> None:
        if self._reference is not None:
            self._reference.finish()
            self._reference.close()
        elif self._is_file:
            self.close()
            self.upload.sha256 = self._hash.hexdigest()
        elif self._name:
            self.upload.fields.append((self._name, self._buffer.decode("utf-8", "replace")))

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._reference is not None:
            self._reference.close()


async def receive_upload(
    body: BodyReader,
    boundary: bytes,
    spool_path: Path,
    limits: FormLimits,
    charge: Callable[[int], None],
    *,
    new_file: Callable[[], Path] | None = None,
) -> Upload:
    """Parse the multipart body, writing the `file` part to `spool_path` and each known speaker's
    reference clip to a `new_file()` (without it, references are plain fields).

    `charge(n)` is called before `n` more file bytes are written; it may raise to refuse them.
    """
    collector = _Collector(spool_path, limits, boundary, charge, new_file=new_file)
    parser = MultipartParser(boundary, collector.callbacks())  # type: ignore[arg-type]
    parser.logger = _PARSER_LOG
    try:
        while not body.complete:
            parser.write(await body.read())
        parser.finalize()
    except FormParserError:
        raise bad_request("The multipart/form-data body is malformed.") from None
    finally:
        collector.close()
    if parser.state != MultipartState.END:
        raise bad_request("The multipart/form-data body is truncated: its closing boundary is missing.")
    return collector.upload
