"""Online clustering and the final grouping, on crafted embeddings with known geometry."""

from __future__ import annotations

import numpy as np
import pytest

from gigaam_api.speakers.clustering import MIN_SPEAKER_WINDOWS, CountHint, OnlineClusters, group_clusters

DIM = 16


def _voice(axis: int, rng: np.random.Generator, n: int, spread: float = 0.15) -> np.ndarray:
    base = np.zeros(DIM, dtype=np.float32)
    base[axis] = 1.0
    points = base + rng.normal(0, spread / np.sqrt(DIM), (n, DIM)).astype(np.float32)
    unit: np.ndarray = points / np.linalg.norm(points, axis=1, keepdims=True)
    return unit


def test_windows_of_distinct_voices_form_one_cluster_each() -> None:
    rng = np.random.default_rng(0)
    clusters = OnlineClusters(DIM, threshold=0.8)
    order = [0, 1, 0, 2, 1, 2, 0] * 5
    assigned = [clusters.add(_voice(axis, rng, 1)[0]) for axis in order]

    assert len(clusters) == 3
    assert all(
        assigned[i] == assigned[j]
        for i in range(len(order))
        for j in range(len(order))
        if order[i] == order[j]
    )


def test_past_the_bound_the_closest_clusters_merge_and_old_ids_still_resolve() -> None:
    rng = np.random.default_rng(1)
    clusters = OnlineClusters(DIM, threshold=0.95, max_clusters=4)
    ids = [clusters.add(_voice(axis, rng, 1, spread=0.01)[0]) for axis in range(8)]  # 8 distinct voices

    assert len(clusters) == 4  # memory stays bounded
    live = {clusters.resolve(i) for i in ids}
    assert len(live) == 4 and live <= set(ids)
    _, centroids, counts, _ = clusters.snapshot()
    assert counts.sum() == 8 and np.allclose(np.linalg.norm(centroids, axis=1), 1.0, atol=1e-5)


def test_a_known_speaker_is_never_merged_into_another() -> None:
    rng = np.random.default_rng(2)
    clusters = OnlineClusters(DIM, threshold=0.99, max_clusters=2)
    known = clusters.enroll(_voice(0, rng, 3, spread=0.01))
    for axis in (1, 2, 3):
        clusters.add(_voice(axis, rng, 1, spread=0.01)[0])
    assert clusters.resolve(known) == known and len(clusters) == 2


def test_grouping_cuts_at_the_threshold_and_small_clusters_join_the_nearest() -> None:
    rng = np.random.default_rng(3)
    centroids = np.concatenate([_voice(0, rng, 2, 0.05), _voice(1, rng, 2, 0.05), _voice(0, rng, 1, 0.3)])
    counts = [10, 8, 12, 9, MIN_SPEAKER_WINDOWS - 1]

    groups = group_clusters(centroids, counts, [False] * 5, threshold=0.8)

    assert groups[0] == groups[1] == groups[4] and groups[2] == groups[3] and groups[0] != groups[2]


@pytest.mark.parametrize(
    ("hint", "expected"), [(CountHint(3, 3), 3), (CountHint(1, 1), 1), (CountHint(4, None), 4)]
)
def test_a_count_hint_overrides_the_threshold(hint: CountHint, expected: int) -> None:
    rng = np.random.default_rng(4)
    centroids = np.concatenate([_voice(a, rng, 2, 0.05) for a in range(2)])  # two voices, two clusters each

    groups = group_clusters(centroids, [10] * 4, [False] * 4, threshold=0.8, hint=hint)

    assert len(set(groups)) == expected


def test_clusters_like_a_known_speaker_join_it_and_the_rest_stay_anonymous() -> None:
    rng = np.random.default_rng(5)
    centroids = np.concatenate([_voice(0, rng, 1, 0.01), _voice(0, rng, 1, 0.1), _voice(1, rng, 1, 0.1)])

    groups = group_clusters(centroids, [5, 10, 10], [True, False, False], threshold=0.8)

    assert groups == [0, 0, 1]
    # With the count at one, the stranger must be the known speaker too.
    assert group_clusters(centroids, [5, 10, 10], [True, False, False], 0.8, CountHint(1, 1)) == [0, 0, 0]


def test_past_64_clusters_the_cap_holds_memory_stays_flat_and_the_final_pass_finds_the_voices() -> None:
    """Three voices, each heard in 40 slightly different ways (a turn's words, a day's cold): 120 directions
    no two of which are as close as the online threshold wants, so each starts its own cluster, far past
    the cap. Each voice's ways are closer to each other than to any other voice, so the merges the cap
    forces stay inside a voice, and the final pass puts every window of a voice in one speaker."""
    import tracemalloc

    from gigaam_api.speakers.clustering import MAX_CLUSTERS

    dim, voices, ways, shared = 256, 3, 40, 0.85  # two ways of one voice: cosine similarity 0.85
    assert voices * ways > MAX_CLUSTERS
    directions = np.zeros((voices, ways, dim), dtype=np.float32)
    for v in range(voices):
        for w in range(ways):
            directions[v, w, v] = np.sqrt(shared)
            directions[v, w, voices + v * ways + w] = np.sqrt(1 - shared)
    rng = np.random.default_rng(7)
    clusters = OnlineClusters(dim, threshold=0.9)
    last_id: dict[tuple[int, int], int] = {}

    def one_pass() -> None:
        for flat in rng.permutation(voices * ways):
            v, w = divmod(int(flat), ways)
            window = directions[v, w] + rng.normal(0, 0.02 / np.sqrt(dim), dim).astype(np.float32)
            last_id[v, w] = clusters.add(window / np.linalg.norm(window))
            assert len(clusters) <= MAX_CLUSTERS

    one_pass()
    one_pass()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for _ in range(20):  # 2,400 more windows: an hour of speech at 1.5-s windows
        one_pass()
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert grown < 16 * 1024, f"the clusters grew by {grown} bytes over 2,400 windows"
    assert len(clusters) == MAX_CLUSTERS

    ids, centroids, counts, fixed = clusters.snapshot()
    groups = dict(zip(ids, group_clusters(centroids, counts, fixed, threshold=0.75), strict=True))
    speaker = {(v, w): groups[clusters.resolve(last_id[v, w])] for v in range(voices) for w in range(ways)}
    assert [len({speaker[v, w] for w in range(ways)}) for v in range(voices)] == [1] * voices
    assert len(set(speaker.values())) == voices
    assert counts.sum() == voices * ways * 22  # every window counted once, in a live cluster


def test_join_counts_an_embedding_into_what_a_merged_cluster_became() -> None:
    rng = np.random.default_rng(2)
    clusters = OnlineClusters(DIM, threshold=0.95, max_clusters=2)
    first, second = (clusters.add(_voice(axis, rng, 1, spread=0.01)[0]) for axis in (0, 1))
    clusters.add(_voice(2, rng, 1, spread=0.01)[0])  # a third voice at the bound: two clusters merge
    merged = next(c for c in (first, second) if clusters.resolve(c) != c)
    live = clusters.resolve(merged)

    assert clusters.join(merged, _voice(3, rng, 1)[0]) == live  # joins whatever its similarity
    assert clusters.count(live) == 3
