"""`known_speaker_references[]`: data URLs (`data:audio/wav;base64,…`) of 2–10 s clips, as OpenAI takes
them, streamed into files of the request's spool as they arrive, so four clips of WAV do not count
against MAX_FORM_FIELDS_BYTES nor sit in memory. Their length is checked when they are decoded.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Final

from gigaam_api.api.base64_file import Base64File
from gigaam_api.errors import APIError, bad_request
from gigaam_api.speakers.options import MAX_KNOWN_SPEAKERS

PARAM: Final = "known_speaker_references"
# 10 s of 48 kHz stereo float32 WAV is 3.84 MB: any clip of the allowed length fits.
MAX_REFERENCE_BYTES: Final = 4 * 1024 * 1024
MAX_HEADER_BYTES: Final = 256  # `data:<media type>[;params];base64,`
_FIELD = re.compile(rf"^{PARAM}(\[\d*\])?$")
_HEADER = re.compile(rb"^data:[\w.+-]+/[\w.+-]+(;[\w.+-]+=[\w.+-]+)*;base64$", re.IGNORECASE)


def is_reference(field_name: str) -> bool:
    return _FIELD.match(field_name) is not None


def invalid_reference(detail: str) -> APIError:
    return bad_request(f"Invalid known_speaker_references item: {detail}.", param=PARAM)


def too_many_references() -> APIError:
    return bad_request(f"At most {MAX_KNOWN_SPEAKERS} known_speaker_references are allowed.", param=PARAM)


def _too_large(limit: int) -> APIError:
    return invalid_reference(f"the clip is larger than {limit // (1024 * 1024)} MB")


class DataUrlFile:
    """One reference's data URL, written as the clip's bytes to `path` as its text arrives."""

    def __init__(self, path: Path, charge: Callable[[int], None]) -> None:
        self.path = path
        self._header: bytearray | None = bytearray()  # None once the `,` was seen
        self._clip = Base64File(
            path,
            MAX_REFERENCE_BYTES,
            charge,
            invalid=lambda: invalid_reference("the data URL's base64 is malformed"),
            too_large=_too_large,
        )

    def write(self, data: bytes) -> None:
        if self._header is not None:
            comma = data.find(b",")
            self._header += data if comma < 0 else data[:comma]
            if len(self._header) > MAX_HEADER_BYTES:
                raise invalid_reference("expected a data URL such as data:audio/wav;base64,…")
            if comma < 0:
                return
            if not _HEADER.match(bytes(self._header).strip()):
                raise invalid_reference("expected a base64 data URL such as data:audio/wav;base64,…")
            self._header = None
            data = data[comma + 1 :]
        self._clip.write(data)

    def finish(self) -> None:
        if self._header is not None:
            raise invalid_reference("expected a data URL such as data:audio/wav;base64,…")
        self._clip.finish()
        if self._clip.size == 0:
            raise invalid_reference("the clip is empty")

    def close(self) -> None:
        self._clip.close()
