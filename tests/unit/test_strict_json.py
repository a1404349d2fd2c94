"""Strict JSON bodies: what reaches a route is finite and encodable, or the body is a 400."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gigaam_api.api.strict_json import loads_strict
from gigaam_api.errors import APIError

TEXT = st.text(st.characters(codec=None), max_size=8)  # surrogates included
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=10,
)


def _clean(value: object) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, str):
        return not any(0xD800 <= ord(c) <= 0xDFFF for c in value)
    if isinstance(value, list):
        return all(_clean(v) for v in value)
    if isinstance(value, dict):
        return all(_clean(k) and _clean(v) for k, v in value.items())
    return True


@given(value=VALUES, ascii_only=st.booleans())
def test_any_value_parses_back_or_is_a_400(value: object, ascii_only: bool) -> None:
    data = json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    if _clean(value):
        assert loads_strict(data) == json.loads(data)
        return
    with pytest.raises(APIError) as caught:
        loads_strict(data)
    assert caught.value.status == 400 and caught.value.code in ("invalid_number", "invalid_unicode")
    caught.value.message.encode("utf-8")  # the error itself is always sendable


@pytest.mark.parametrize(
    ("data", "param"),
    [
        (b'{"a": {"b": ["ok", "\\udfff"]}}', "a.b.1"),
        (b'["\\ud800"]', "0"),
        (b'{"\\ud800": 1}', None),
        (b'{"ok": {"\\ud800": 1}}', "ok"),
        ('{"raw": "\ud800"}'.encode("utf-8", "surrogatepass"), "raw"),
    ],
)
def test_a_lone_surrogate_is_named_by_its_path(data: bytes, param: str | None) -> None:
    with pytest.raises(APIError) as caught:
        loads_strict(data)
    assert caught.value.code == "invalid_unicode" and caught.value.param == param


@pytest.mark.parametrize("number", [b"1e400", b"-1e400", b"NaN", b"Infinity", b"-Infinity"])
def test_non_finite_numbers_are_refused(number: bytes) -> None:
    with pytest.raises(APIError) as caught:
        loads_strict(b'{"t": ' + number + b"}")
    assert caught.value.code == "invalid_number"


@pytest.mark.parametrize("data", [b"[" * 100_000, b"1" * 5000, b"\xff", b'{"a": 1', b""])
def test_malformed_json_is_a_400(data: bytes) -> None:
    with pytest.raises(APIError, match="malformed"):
        loads_strict(data)
