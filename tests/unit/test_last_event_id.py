"""`Last-Event-ID` of a job's event stream: an id the stream sent (0..2 per stored segment), or a 400."""

from __future__ import annotations

import pytest

from gigaam_api.api.jobs import last_event_id
from gigaam_api.errors import APIError


@pytest.mark.parametrize(("header", "seen"), [("", 0), ("0", 0), ("3", 3), ("6", 6), (" 4 ", 4)])
def test_ids_the_stream_sent(header: str, seen: int) -> None:
    assert last_event_id(header, segment_count=3) == seen


@pytest.mark.parametrize(
    "header",
    ["-1", "-100000000", "7", str(2**63), "9" * 5000, "+1", "01", "1.5", "1_0", "0x1", "\xb2", "abc"],
)
def test_anything_else_is_a_400(header: str) -> None:
    with pytest.raises(APIError) as caught:
        last_event_id(header, segment_count=3)
    assert caught.value.status == 400 and caught.value.code == "invalid_last_event_id"
    assert "from 0 to 6" in caught.value.message
