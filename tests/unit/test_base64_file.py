"""Base64 text in pieces into a file (api/base64_file.py): a data URL's clip, a JSON body's audio."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from gigaam_api.api.base64_file import Base64File
from gigaam_api.errors import APIError, bad_request


def _decoded(tmp_path: Path, pieces: list[bytes]) -> bytes:
    target = tmp_path / "out"
    file = Base64File(
        target,
        1 << 20,
        lambda _n: None,
        invalid=lambda: bad_request("malformed", param="data"),
        too_large=lambda limit: bad_request(f"over {limit}", param="data"),
    )
    try:
        for piece in pieces:
            file.write(piece)
        file.finish()
    finally:
        file.close()
    return target.read_bytes()


def test_line_wrapped_base64_decodes(tmp_path: Path) -> None:
    """GNU `base64` and MIME wrap at 76 columns; the clip was refused as malformed."""
    data = bytes(range(256)) * 3
    wrapped = base64.encodebytes(data)  # a newline every 76 characters
    assert b"\n" in wrapped
    assert _decoded(tmp_path, [wrapped[:50], wrapped[50:123], wrapped[123:]]) == data
    assert _decoded(tmp_path, [wrapped.replace(b"\n", b"\r\n")]) == data


def test_other_characters_are_still_refused(tmp_path: Path) -> None:
    with pytest.raises(APIError):
        _decoded(tmp_path, [b"QUJD*QUJD"])
