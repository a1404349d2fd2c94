"""Which ready chunks go into the next inference batch. Pure."""

from __future__ import annotations

from collections.abc import Sequence

from gigaam_api.vad.chunking import Chunk


def batch_length(ready: Sequence[Chunk], limit_samples: int, *, first: bool = False) -> int:
    """How many of the leading `ready` chunks make the next batch: as many as fit in `limit_samples`.

    Never fewer than one (a chunk longer than the limit still runs, alone); 0 only if none is ready.
    The `first` batch of a run is its first chunk alone: a stream's first text waits for no other.
    """
    if first:
        return min(1, len(ready))
    total = 0
    for count, chunk in enumerate(ready):
        total += chunk.end - chunk.start
        if total > limit_samples:
            return max(count, 1)
    return len(ready)
