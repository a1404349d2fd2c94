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

import numpy as np
import numpy.typing as npt
from scipy.cluster.hierarchy import fcluster, linkage

Embeddings = npt.NDArray[np.float32]
MAX_CLUSTERS = 64  # centroids kept online: a conversation's speakers and their off-days, bounded
# Clusters with fewer windows (3.2 s of speech for 0.8-s hops) than this are not speakers by
# themselves in the final pass: overlapped speech, a cough, a window across a speaker change.
MIN_SPEAKER_WINDOWS = 4


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

    Clusters of at least MIN_SPEAKER_WINDOWS windows are the candidates: each joins the known speaker it
    resembles (similarity >= threshold), the rest are grouped by average-linkage agglomerative clustering
    cut at distance 1 - threshold, or into as many groups as the hint requires. Smaller clusters then
    join the group of the most similar candidate. Groups are numbered from 0, fixed ones first.
    """
    n = len(centroids)
    counts = np.asarray(counts)
    is_fixed = np.asarray(fixed, dtype=bool)
    groups = np.full(n, -1, dtype=np.int64)
    known = np.flatnonzero(is_fixed)
    groups[known] = np.arange(len(known))
    candidates = np.flatnonzero(~is_fixed & (counts >= MIN_SPEAKER_WINDOWS))
    if len(candidates) == 0 and len(known) == 0:
        candidates = np.flatnonzero(~is_fixed)  # a short recording: every cluster is a candidate
    anonymous = candidates
    if len(known) and len(candidates):
        similarity = centroids[candidates] @ centroids[known].T
        best = similarity.argmax(axis=1)
        joins = similarity[np.arange(len(candidates)), best] >= threshold
        groups[candidates[joins]] = best[joins]
        anonymous = candidates[~joins]
    least = max(hint.least - len(known), 0)
    most = None if hint.most is None else max(hint.most - len(known), 0)
    if len(anonymous):
        labels = _agglomerate(centroids[anonymous], threshold, least, most)
        if labels is None:  # no room for another speaker: each joins the nearest known one
            groups[anonymous] = (centroids[anonymous] @ centroids[known].T).argmax(axis=1)
        else:
            groups[anonymous] = len(known) + labels
    placed = np.flatnonzero(groups >= 0)
    for index in np.flatnonzero(groups < 0):
        groups[index] = groups[placed[int(np.argmax(centroids[placed] @ centroids[index]))]]
    return [int(g) for g in groups]


def _agglomerate(
    points: Embeddings, threshold: float, least: int, most: int | None
) -> npt.NDArray[np.int64] | None:
    """Group labels from 0, or None when `most` is 0 (every point must join a known speaker)."""
    if most == 0:
        return None
    if len(points) == 1:
        return np.zeros(1, dtype=np.int64)
    tree = linkage(points.astype(np.float64), method="average", metric="cosine")
    labels = fcluster(tree, t=1.0 - threshold, criterion="distance")
    found = int(labels.max())
    upper = len(points) if most is None else min(most, len(points))
    wanted = min(max(found, least), upper)
    if wanted != found:
        labels = fcluster(tree, t=wanted, criterion="maxclust")
    return np.asarray(labels, dtype=np.int64) - 1
