"""Where embedding windows lie in a speech chunk, which stretch each labels, and the chunk's pauses."""

from __future__ import annotations

import numpy as np

from gigaam_api.speakers.windows import (
    between_speakers,
    embedded_first,
    owned_spans,
    smoothed,
    voiced_regions,
    window_spans,
)

RATE = 16_000


def test_windows_cover_the_chunk_and_the_last_ends_at_its_end() -> None:
    assert window_spans(10, 4, 2) == [(0, 4), (2, 6), (4, 8), (6, 10)]
    assert window_spans(11, 4, 3) == [(0, 4), (3, 7), (6, 10), (7, 11)]
    assert window_spans(3, 4, 2) == [(0, 3)]  # shorter than a window: itself


def test_each_window_labels_the_stretch_nearest_its_centre() -> None:
    assert owned_spans([(0, 4), (2, 6), (4, 8)], 8) == [(0, 3), (3, 5), (5, 8)]
    assert owned_spans([(0, 3)], 3) == [(0, 3)]


def test_a_lone_window_between_agreeing_neighbours_takes_their_label() -> None:
    assert smoothed([0, 0, 1, 0, 1, 1, 2, 2]) == [0, 0, 0, 0, 1, 1, 2, 2]
    assert smoothed([0, 1]) == [0, 1]


def test_voiced_regions_split_at_pauses_but_not_at_short_dips() -> None:
    tone = (0.3 * np.sin(np.arange(RATE) * 2 * np.pi * 200 / RATE)).astype(np.float32)
    pause = np.zeros(RATE // 2, np.float32)  # 0.5 s
    dip = np.zeros(RATE // 10, np.float32)  # 0.1 s: inside a phrase
    pcm = np.concatenate([pause, tone, dip, tone, pause, tone, pause])
    pcm += np.random.default_rng(0).normal(0, 1e-4, len(pcm)).astype(np.float32)  # a quiet noise floor

    regions = voiced_regions(pcm, RATE)

    frames = [(s // 160, e // 160) for s, e in regions]  # 10-ms frames
    assert frames == [(50, 260), (310, 410)]
    assert voiced_regions(np.zeros(RATE, np.float32), RATE) == []


def test_every_other_window_first_then_those_between_two_labels() -> None:
    assert embedded_first(1) == [0]
    assert embedded_first(4) == [0, 2, 3]
    assert embedded_first(5) == [0, 2, 4]
    assert between_speakers([0, None, 0, None, 1]) == [3]
    assert between_speakers([0, None, 0, 0]) == []
