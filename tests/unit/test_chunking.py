"""Invariants of the chunker on random and hand-made probability sequences."""

from __future__ import annotations

import itertools

import numpy as np
import numpy.typing as npt
import pytest

from gigaam_api.engines.base import ServerVAD
from gigaam_api.vad.chunking import (
    FRAME_SAMPLES,
    FRAME_SECONDS,
    Chunk,
    ChunkingSettings,
    IncrementalChunker,
    plan_chunks,
    server_vad_settings,
)
from tests.fixtures.chunks import seconds

Probs = npt.NDArray[np.float64]
SETTINGS = ChunkingSettings()


def frames(seconds: float) -> int:
    return round(seconds / FRAME_SECONDS)


def speechy(seed: int, seconds: float = 300.0) -> Probs:
    """Alternating speech and silence runs of random lengths (some far longer than a chunk)."""
    rng = np.random.default_rng(seed)
    parts: list[Probs] = []
    total = 0
    while total < frames(seconds):
        speech = rng.random() < 0.5
        length = int(rng.choice([rng.integers(1, 20), rng.integers(20, 400), rng.integers(400, 2500)]))
        low, high = (0.3, 1.0) if speech else (0.0, 0.3)
        parts.append(rng.uniform(low, high, length))
        total += length
    return np.concatenate(parts)


def speech_frames(probs: Probs, settings: ChunkingSettings) -> set[int]:
    """Frames inside runs the hysteresis keeps: at or above threshold and in a run >= min_speech."""
    above = probs >= settings.threshold
    kept: set[int] = set()
    start = None
    for i, flag in enumerate([*above.tolist(), False]):
        if flag and start is None:
            start = i
        if not flag and start is not None:
            if i - start >= settings.min_speech:
                kept.update(range(start, i))
            start = None
    return kept


def as_frames(chunk: Chunk) -> range:
    return range(chunk.start // FRAME_SAMPLES, chunk.end // FRAME_SAMPLES)


@pytest.mark.parametrize("seed", range(40))
def test_invariants_on_random_probabilities(seed: int) -> None:
    probs = speechy(seed)
    chunks = plan_chunks(probs)
    assert chunks, "random audio with speech must give chunks"
    for a, b in itertools.pairwise(chunks):
        assert a.end <= b.start, "chunks ordered and disjoint"
    for c in chunks:
        assert 0.2 < seconds(c) <= SETTINGS.hard_max_s
        assert c.start % FRAME_SAMPLES == 0
        assert c.end % FRAME_SAMPLES == 0
        assert c.end <= len(probs) * FRAME_SAMPLES
    covered = [i for c in chunks for i in as_frames(c)]
    # Every frame of a run that is speech throughout (>= threshold, long enough) lies in exactly one chunk.
    assert speech_frames(probs, SETTINGS) <= set(covered)
    assert len(covered) == len(set(covered))


@pytest.mark.parametrize("seed", range(40))
def test_incremental_equals_batch_for_any_split(seed: int) -> None:
    probs = speechy(seed, seconds=200.0)
    expected = plan_chunks(probs)
    rng = np.random.default_rng(1000 + seed)
    cuts = np.sort(rng.choice(len(probs), size=int(rng.integers(1, 60)), replace=False))
    chunker = IncrementalChunker()
    got: list[Chunk] = []
    for piece in np.split(probs, cuts):
        got += chunker.push(piece)
    got += chunker.finish()
    assert got == expected


def test_chunks_are_released_before_the_end() -> None:
    """A long file releases its chunks as it goes, not all at finish()."""
    probs = speechy(7, seconds=600.0)
    chunker = IncrementalChunker()
    early = [c for i in range(0, len(probs), 500) for c in chunker.push(probs[i : i + 500])]
    late = chunker.finish()
    assert len(early) >= 10
    assert len(late) <= 2


def test_memory_stays_bounded_on_a_long_run() -> None:
    """One hour of uninterrupted speech: the chunker keeps only about one chunk of probabilities."""
    chunker = IncrementalChunker()
    rng = np.random.default_rng(3)
    for _ in range(frames(3600) // 1000):
        chunker.push(rng.uniform(0.5, 1.0, 1000))
        assert len(chunker._hysteresis._probs) <= frames(SETTINGS.hard_max_s) + 1000


def silence(seconds: float) -> Probs:
    return np.full(frames(seconds), 0.02)


def speech(seconds: float) -> Probs:
    return np.full(frames(seconds), 0.9)


def test_silence_gives_no_chunks() -> None:
    assert plan_chunks(silence(120)) == []


def test_short_phrases_merge_into_one_chunk() -> None:
    parts = [silence(1), speech(3), silence(1), speech(4), silence(1), speech(2), silence(2)]
    speech_end = sum(len(p) for p in parts[:-1])
    (chunk,) = plan_chunks(np.concatenate(parts))
    assert as_frames(chunk) == range(len(parts[0]) - SETTINGS.pad, speech_end + SETTINGS.pad)


def test_chunk_closes_once_longer_than_min_s() -> None:
    # 16 s of speech (> min_s = 15), a pause, then a 2-s phrase: the phrase starts a new chunk.
    probs = np.concatenate([speech(16), silence(1), speech(2), silence(1)])
    first, second = plan_chunks(probs)
    assert first.end // FRAME_SAMPLES == frames(16) + SETTINGS.pad
    assert second.start // FRAME_SAMPLES == frames(16) + frames(1) - SETTINGS.pad


def test_chunk_closes_before_exceeding_max_s() -> None:
    # 12 s (< min_s) then 12 s: together longer than max_s = 22, so two chunks.
    probs = np.concatenate([speech(12), silence(1), speech(12), silence(1)])
    assert len(plan_chunks(probs)) == 2
    # 12 s then 8 s fit in 22 s: one chunk, the pause inside.
    probs = np.concatenate([speech(12), silence(1), speech(8), silence(1)])
    assert len(plan_chunks(probs)) == 1


def test_long_run_is_split_at_least_speech_like_frame() -> None:
    run = np.full(frames(50), 0.95)
    dip = frames(18.5)  # inside the window [min_s, max_s] from the run start
    run[dip] = 0.3  # still speech (>= threshold), but the least speech-like frame
    run[frames(5)] = 0.28  # lower, but before min_s: not a candidate
    probs = np.concatenate([silence(1), run, silence(1)])
    chunks = plan_chunks(probs)
    start = frames(1)
    assert chunks[0].end // FRAME_SAMPLES == start + dip
    assert chunks[1].start == chunks[0].end
    assert all(seconds(c) <= SETTINGS.hard_max_s for c in chunks)


def test_hard_max_follows_the_model_limit() -> None:
    settings = ChunkingSettings(hard_max_s=12.0, min_s=5.0, max_s=10.0)
    chunks = plan_chunks(speechy(5), settings)
    assert max(seconds(c) for c in chunks) <= 12.0


def test_trailing_blip_of_02_s_or_less_is_dropped() -> None:
    settings = ChunkingSettings(min_speech_ms=0, speech_pad_ms=0)
    probs = np.concatenate([speech(16), silence(1), speech(0.1), silence(1)])
    chunks = plan_chunks(probs, settings)
    assert len(chunks) == 1
    assert seconds(chunks[0]) == pytest.approx(frames(16) * FRAME_SECONDS)


def test_invalid_settings_are_rejected() -> None:
    with pytest.raises(ValueError, match="min_s"):
        ChunkingSettings(min_s=25.0, max_s=22.0)
    with pytest.raises(ValueError, match="threshold"):
        ChunkingSettings(threshold=0.0)


FIRST = ChunkingSettings(first_max_s=10.0)


@pytest.mark.parametrize("seed", range(20))
def test_first_chunk_is_short_and_the_rest_follow_the_usual_rule(seed: int) -> None:
    probs = speechy(seed)
    first, *rest = plan_chunks(probs, FIRST)
    assert 0.2 < seconds(first) <= 10.0
    assert all(0.2 < seconds(c) <= FIRST.hard_max_s for c in rest)
    covered = [i for c in [first, *rest] for i in as_frames(c)]
    assert speech_frames(probs, FIRST) <= set(covered), "a short first chunk loses no speech"
    assert len(covered) == len(set(covered))


@pytest.mark.parametrize("seed", range(20))
def test_incremental_equals_batch_with_a_short_first_chunk(seed: int) -> None:
    probs = speechy(seed, seconds=120.0)
    rng = np.random.default_rng(2000 + seed)
    cuts = np.sort(rng.choice(len(probs), size=int(rng.integers(1, 40)), replace=False))
    chunker = IncrementalChunker(FIRST)
    got = [c for piece in np.split(probs, cuts) for c in chunker.push(piece)] + chunker.finish()
    assert got == plan_chunks(probs, FIRST)


def test_phrases_after_the_first_chunk_group_as_before() -> None:
    # Phrases of 3 s: the first chunk closes once past 5 s (half of first_max_s), later ones past 15 s.
    phrase = [speech(3), silence(0.5)]
    probs = np.concatenate([silence(1), *(phrase * 12)])
    first, second, *_ = plan_chunks(probs, FIRST)
    assert 5.0 < seconds(first) <= 10.0
    assert 15.0 < seconds(second) <= SETTINGS.max_s


def test_first_chunk_of_continuous_speech_is_cut_at_its_least_speech_like_frame() -> None:
    run = np.full(frames(40), 0.95)
    dip = frames(7.5)  # inside [5 s, 10 s] from the run start
    run[dip] = 0.3
    probs = np.concatenate([silence(1), run, silence(1)])
    first, second, *_ = plan_chunks(probs, FIRST)
    assert first.end // FRAME_SAMPLES == frames(1) + dip
    assert second.start == first.end
    assert seconds(second) > 10.0, "only the first chunk is short"


def test_first_max_s_off_or_longer_than_max_s_changes_nothing() -> None:
    probs = speechy(11)
    expected = plan_chunks(probs)
    assert plan_chunks(probs, ChunkingSettings(first_max_s=None)) == expected
    assert plan_chunks(probs, ChunkingSettings(first_max_s=25.0)) == expected


def test_first_max_s_too_short_is_rejected() -> None:
    with pytest.raises(ValueError, match="hard_max_s is too short"):
        ChunkingSettings(first_max_s=0.1)
    with pytest.raises(ValueError, match="first_max_s"):
        ChunkingSettings(first_max_s=0.0)


def test_server_vad_ends_a_chunk_at_each_pause_of_silence_duration_ms() -> None:
    # Phrases with a 0.5-s and a 1.5-s pause: the server's rule keeps them in one chunk.
    probs = np.concatenate([speech(3), silence(0.5), speech(4), silence(1.5), speech(2), silence(3)])
    assert len(plan_chunks(probs)) == 1

    short = plan_chunks(probs, server_vad_settings(SETTINGS, ServerVAD(silence_duration_ms=200)))
    long = plan_chunks(probs, server_vad_settings(SETTINGS, ServerVAD(silence_duration_ms=1000)))
    longest = plan_chunks(probs, server_vad_settings(SETTINGS, ServerVAD(silence_duration_ms=2000)))

    assert [round(seconds(c)) for c in short] == [3, 4, 2]
    assert [round(seconds(c)) for c in long] == [8, 2]  # the 0.5-s pause is inside the first chunk
    assert len(longest) == 1


def test_server_vad_padding_and_threshold_replace_the_servers() -> None:
    probs = np.concatenate([silence(1), np.full(frames(2), 0.4), silence(1)])
    assert len(plan_chunks(probs, server_vad_settings(SETTINGS, ServerVAD(threshold=0.5)))) == 0
    (chunk,) = plan_chunks(
        probs, server_vad_settings(SETTINGS, ServerVAD(threshold=0.3, prefix_padding_ms=320))
    )
    assert chunk.start // FRAME_SAMPLES == frames(1) - frames(0.32)


def test_a_server_vad_threshold_below_the_servers_negative_threshold_is_usable() -> None:
    base = ChunkingSettings(threshold=0.6, neg_threshold=0.5)
    assert server_vad_settings(base, ServerVAD(threshold=0.2)).negative_threshold == pytest.approx(0.05)
