"""Batching: as many consecutive ready chunks as fit in the limit, never fewer than one."""

from __future__ import annotations

import pytest

from gigaam_api.pipeline.batching import batch_length
from gigaam_api.vad.chunking import Chunk


def chunks(*lengths: int) -> list[Chunk]:
    out, pos = [], 0
    for n in lengths:
        out.append(Chunk(pos, pos + n))
        pos += n + 10
    return out


@pytest.mark.parametrize(
    ("lengths", "limit", "expected"),
    [
        ((), 100, 0),
        ((50,), 100, 1),
        ((50, 50), 100, 2),
        ((50, 50, 1), 100, 2),
        ((150, 10), 100, 1),  # too long alone: it still runs, alone
        ((10, 150), 100, 1),
        ((30, 30, 30, 30), 100, 3),
    ],
)
def test_batch_length(lengths: tuple[int, ...], limit: int, expected: int) -> None:
    assert batch_length(chunks(*lengths), limit) == expected


@pytest.mark.parametrize(("lengths", "expected"), [((), 0), ((50,), 1), ((10, 10, 10), 1), ((150, 10), 1)])
def test_first_batch_is_the_first_chunk_alone(lengths: tuple[int, ...], expected: int) -> None:
    assert batch_length(chunks(*lengths), 100, first=True) == expected
