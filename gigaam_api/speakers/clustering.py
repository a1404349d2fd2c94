"""Speaker clustering in two passes with bounded memory: online, then globally over the centroids.

Online, each window's embedding joins the most similar cluster found so far (cosine similarity of unit
vectors to the cluster's mean direction) if that reaches the model's threshold, else starts a cluster.
A cluster is a running sum and a count, so memory does not grow with the audio; past `max_clusters`
the two most similar clusters merge. Clusters are never renumbered: a merged one points to the one it
joined (`resolve`), so the ids a caller stored stay valid.

At the end, `group_clusters` groups the clusters' centroids into speakers with scipy's agglomerative
clustering (average linkage on cosine distance), cut at the threshold or at the count asked for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

Embeddings = npt.NDArray[np.float32]
MAX_CLUSTERS = 64  # centroids kept online: a conversation's speakers and their off-days, bounded
# Clusters with fewer windows (3.2 s of speech for 0.8-s hops) than this are not speakers by
# themselves in the final pass: overlapped speech, a cough, a window across a speaker change.
MIN_SPEAKER_WINDOWS = 4
LINKAGE_POINTS = 256  # copies of the centroids the final pass clusters, shared by their window counts


class OnlineClusters:
    def __init__(self, dim: int, threshold: float, max_clusters: int = MAX_CLUSTERS) -> None:
        self.threshold = threshold
        self.max_clusters = max_clusters
        self._sums = np.zeros((max_clusters, dim), dtype=np.float64)
        self._counts = np.zeros(max_clusters, dtype=np.int64)
        self._slot_id = np.full(max_clusters, -1, dtype=np.int64)  # the cluster id in each slot
        self._parent: list[int] = []  # id -> the id it merged into (itself while alive)
        self._slot_of: dict[int, int] = {}  # live id -> slot
        self._fixed: set[int] = set()  # known speakers: never merged into another cluster

    def __len__(self) -> int:
        return len(self._slot_of)

    def resolve(self, cluster: int) -> int:
        """The live cluster that `cluster` is now part of."""
        while self._parent[cluster] != cluster:
            self._parent[cluster] = self._parent[self._parent[cluster]]
            cluster = self._parent[cluster]
        return cluster

    def add(self, embedding: Embeddings, *, fixed: bool = False, new: bool = False) -> int:
        """Assign one unit embedding; return its cluster id. `new` starts a cluster (enrolment)."""
        if not new and self._slot_of:
            slot, similarity = self._nearest(embedding)
            # At the bound with nothing similar, make room for a new cluster; if none can merge, join.
            if similarity >= self.threshold or (self._full() and not self._merge_closest()):
                self._sums[slot] += embedding
                self._counts[slot] += 1
                return int(self._slot_id[slot])
        if self._full() and not self._merge_closest():
            raise ValueError(f"more than {self.max_clusters} known speakers")
        cluster = len(self._parent)
        self._parent.append(cluster)
        slot = int(np.flatnonzero(self._slot_id < 0)[0])
        self._slot_of[cluster] = slot
        self._slot_id[slot] = cluster
        self._sums[slot] = embedding
        self._counts[slot] = 1
        if fixed:
            self._fixed.add(cluster)
        return cluster

    def join(self, cluster: int, embedding: Embeddings) -> int:
        """Count one embedding into `cluster` (or what it merged into), whatever its similarity."""
        live = self.resolve(cluster)
        slot = self._slot_of[live]
        self._sums[slot] += embedding
        self._counts[slot] += 1
        return live

    def _full(self) -> bool:
        return len(self._slot_of) >= self.max_clusters

    def _nearest(self, embedding: Embeddings) -> tuple[int, float]:
        slots = np.fromiter(self._slot_of.values(), dtype=np.int64)
        similarity = self._unit(slots) @ embedding
        best = int(np.argmax(similarity))
        return int(slots[best]), float(similarity[best])

    def enroll(self, embeddings: Embeddings) -> int:
        """A fixed cluster (a known speaker) from the embeddings of their reference clip."""
        cluster = self.add(embeddings[0], fixed=True, new=True)
        slot = self._slot_of[cluster]
        self._sums[slot] += embeddings[1:].sum(axis=0)
        self._counts[slot] += len(embeddings) - 1
        return cluster

    def snapshot(self) -> tuple[list[int], Embeddings, npt.NDArray[np.int64], list[bool]]:
        """Live cluster ids, their unit centroids, window counts and whether each is fixed."""
        ids = list(self._slot_of)
        slots = np.array([self._slot_of[i] for i in ids], dtype=np.int64)
        return ids, self._unit(slots), self._counts[slots].copy(), [i in self._fixed for i in ids]

    def count(self, cluster: int) -> int:
        """Windows in a live cluster."""
        return int(self._counts[self._slot_of[cluster]])

    def is_live(self, cluster: int) -> bool:
        return cluster in self._slot_of

    def similarities(self, cluster: int, others: Sequence[int]) -> Embeddings:
        """Cosine similarity of a live cluster's centroid to each of `others` (live) centroids."""
        unit = self._unit(np.array([self._slot_of[c] for c in (cluster, *others)], dtype=np.int64))
        similarity: Embeddings = unit[1:] @ unit[0]
        return similarity

    def _unit(self, slots: npt.NDArray[np.int64]) -> Embeddings:
        sums = self._sums[slots]
        unit: Embeddings = (sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)).astype(
            np.float32
        )
        return unit

    def _merge_closest(self) -> bool:
        """Merge the two most similar clusters (at most one of them fixed); False if none may merge."""
        ids = list(self._slot_of)
        slots = np.array([self._slot_of[i] for i in ids], dtype=np.int64)
        unit = self._unit(slots)
        similarity = unit @ unit.T
        fixed = np.array([i in self._fixed for i in ids])
        similarity[np.ix_(fixed, fixed)] = -np.inf
        np.fill_diagonal(similarity, -np.inf)
        a, b = np.unravel_index(int(np.argmax(similarity)), similarity.shape)
        if not np.isfinite(similarity[a, b]):
            return False
        keep, gone = (ids[a], ids[b]) if fixed[a] or (not fixed[b] and ids[a] < ids[b]) else (ids[b], ids[a])
        keep_slot, gone_slot = self._slot_of[keep], self._slot_of.pop(gone)
        self._sums[keep_slot] += self._sums[gone_slot]
        self._counts[keep_slot] += self._counts[gone_slot]
        self._slot_id[gone_slot] = -1
        self._parent[gone] = keep
        return True


@dataclass(frozen=True, slots=True)
class CountHint:
    least: int = 1
    most: int | None = None


def group_clusters(
    centroids: Embeddings,
    counts: Sequence[int] | npt.NDArray[np.int64],
    fixed: Sequence[bool],
    threshold: float,
    hint: CountHint = CountHint(),
) -> list[int]:
    """The speaker group of each cluster: fixed clusters (known speakers) are groups of their own.

    A cluster that resembles a known speaker (similarity >= threshold) joins it; the others are grouped
    by average-linkage agglomerative clustering cut at distance 1 - threshold, or into as many groups as
    the hint requires. A group of fewer than MIN_SPEAKER_WINDOWS windows in all is no speaker: its
    clusters join the most similar speaker. Groups are numbered from 0, known speakers first.
    """
    counts = np.asarray(counts, dtype=np.int64)
    is_fixed = np.asarray(fixed, dtype=bool)
    groups = np.full(len(centroids), -1, dtype=np.int64)
    known = np.flatnonzero(is_fixed)
    groups[known] = np.arange(len(known))
    anonymous = np.flatnonzero(~is_fixed)
    if len(known) and len(anonymous):
        similarity = centroids[anonymous] @ centroids[known].T
        best = similarity.argmax(axis=1)
        joins = similarity[np.arange(len(anonymous)), best] >= threshold
        groups[anonymous[joins]] = best[joins]
        anonymous = anonymous[~joins]
    least = max(hint.least - len(known), 0)
    most = None if hint.most is None else max(hint.most - len(known), 0)
    if len(anonymous) and most != 0:
        labels = _agglomerate(centroids[anonymous], counts[anonymous], threshold, least, most)
        groups[anonymous] = len(known) + labels
    _absorb_small(groups, centroids, counts, keep=len(known))
    return [int(g) for g in groups]


def scipy_hierarchy() -> Any:  # the module; SciPy has no types
    """`scipy.cluster.hierarchy`, imported here rather than at the top: it takes over half a second, which
    every server's start paid (the pipeline imports the diarizer) for a pass at the end of diarized runs
    only. `pipeline.assembly` calls this off the event loop once the engine is loaded."""
    from scipy.cluster import hierarchy

    return hierarchy


def _agglomerate(
    points: Embeddings, counts: npt.NDArray[np.int64], threshold: float, least: int, most: int | None
) -> npt.NDArray[np.int64]:
    """Group labels from 0: cut at the threshold, then at the count the hint allows (small groups, which
    `_absorb_small` dissolves, do not count as speakers).

    Average linkage weighs every cluster by its windows: each centroid stands for its share of
    LINKAGE_POINTS copies (identical copies merge first, at distance 0), so a cluster of a few windows
    does not pull the similarity of a large one as hard as an equal would.
    """
    if len(points) == 1:
        return np.zeros(1, dtype=np.int64)
    hierarchy = scipy_hierarchy()
    copies = np.maximum(1, np.round(LINKAGE_POINTS * counts / max(int(counts.sum()), 1))).astype(np.int64)
    first = np.concatenate([[0], np.cumsum(copies)[:-1]])  # each cluster's first copy
    weighted = np.repeat(points, copies, axis=0).astype(np.float64)
    tree = hierarchy.linkage(weighted, method="average", metric="cosine")
    labels = _dense(hierarchy.fcluster(tree, t=1.0 - threshold, criterion="distance")[first])
    sizes = np.bincount(labels, weights=counts)
    speakers = max(int((sizes >= MIN_SPEAKER_WINDOWS).sum()), 1)
    upper = len(points) if most is None else min(most, len(points))
    wanted = min(max(speakers, least), upper)
    if wanted != speakers:
        labels = _dense(hierarchy.fcluster(tree, t=wanted, criterion="maxclust")[first])
    return labels


def _dense(labels: npt.NDArray[np.int32]) -> npt.NDArray[np.int64]:
    """Labels renumbered 0, 1, … in order of first occurrence."""
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first))
    return np.asarray(order[inverse], dtype=np.int64)


def _absorb_small(
    groups: npt.NDArray[np.int64], centroids: Embeddings, counts: npt.NDArray[np.int64], *, keep: int
) -> None:
    """Clusters unplaced (-1) or in a group of too few windows join the most similar speaker group;
    groups below `keep` (known speakers) are speakers however little they said."""
    totals = np.bincount(groups[groups >= 0], weights=counts[groups >= 0], minlength=keep)
    big = totals >= MIN_SPEAKER_WINDOWS
    big[:keep] = True
    speaker_groups = np.flatnonzero(big)
    if len(speaker_groups) == 0:  # a short recording: its groups, however small, are its speakers
        speaker_groups = np.unique(groups[groups >= 0])
    if len(speaker_groups) == 0:
        groups[:] = 0
        return
    means = np.stack(
        [(centroids[groups == g] * counts[groups == g, None]).sum(axis=0) for g in speaker_groups]
    )
    means /= np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)
    for index in np.flatnonzero(~np.isin(groups, speaker_groups)):
        groups[index] = speaker_groups[int(np.argmax(means @ centroids[index]))]
