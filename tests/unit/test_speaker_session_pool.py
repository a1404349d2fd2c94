"""The speaker model's ONNX Runtime sessions, one per inference stream: each call at once gets its own."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from gigaam_api.speakers.onnx import SessionPool
from tests.fixtures.waiting import HANG_GUARD_SECONDS


def test_calls_at_once_each_get_their_own_session() -> None:
    inside = threading.Barrier(2, timeout=HANG_GUARD_SECONDS)  # both calls inside a session together

    class Named:
        def __init__(self, name: str) -> None:
            self.name = name

        def run(self, output_names: Sequence[str], feeds: Mapping[str, Any]) -> list[Any]:
            inside.wait()
            return [self.name]

    pool = SessionPool([Named("a"), Named("b")])
    with ThreadPoolExecutor(2) as calls:
        used = sorted(calls.map(lambda _: pool.run(["embedding"], {})[0], range(2)))
    assert used == ["a", "b"]
