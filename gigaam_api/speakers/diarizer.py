"""Who spoke when, from the speech chunks the pipeline's VAD finds, with memory that does not grow.

`feed` each chunk (in order, with its offset in the audio): its windows are embedded (those between two
windows of one speaker are not: see `_assign`) and assigned online to the speakers found so far, and the
chunk's turns come back with those online labels, for a stream. `finish` groups the online clusters
globally and relabels every turn: the final answer. What is kept per chunk is a run-length list of
(start, end, cluster) — a few numbers per speaker change — and the clusters themselves are bounded (see
`clustering.py`), so ten hours cost what one does, plus the turns.
"""

from __future__ import annotations

from array import array
from typing import Final

import numpy as np
import numpy.typing as npt

from gigaam_api.speakers.base import SpeakerEmbedder
from gigaam_api.speakers.clustering import (
    MAX_CLUSTERS,
    MIN_SPEAKER_WINDOWS,
    CountHint,
    Embeddings,
    OnlineClusters,
    group_clusters,
)
from gigaam_api.speakers.options import REFERENCE_MAX_SECONDS, REFERENCE_MIN_SECONDS, DiarizationOptions
from gigaam_api.speakers.turns import Turn, merge_turns, speaker_label
from gigaam_api.speakers.windows import (
    between_speakers,
    embedded_first,
    owned_spans,
    smoothed,
    voiced_regions,
    window_spans,
)

Pcm = npt.NDArray[np.float32]
# Shorter speech ("да", a breath) says too little about the voice: it takes the previous turn's speaker.
MIN_EMBED_SECONDS: Final = 0.5
_INHERIT: Final = -1  # a run of speech too short to embed: the speaker before it (or after, at the start)
# Online, a cluster of fewer than MIN_SPEAKER_WINDOWS windows shows an established speaker's label when
# this close to that speaker's threshold: a new voice's first windows get a letter of their own at once.
YOUNG_MARGIN: Final = 0.1


class Diarizer:
    def __init__(
        self,
        embedder: SpeakerEmbedder,
        options: DiarizationOptions | None = None,
        *,
        max_clusters: int = MAX_CLUSTERS,
    ) -> None:
        caps = embedder.capabilities
        self._embedder = embedder
        self._rate = caps.sample_rate
        self._window = round(caps.window_seconds * self._rate)
        self._hop = round(caps.hop_seconds * self._rate)
        least, most = (options or DiarizationOptions()).count_bounds()
        self._hint = CountHint(least, most)
        self._clusters = OnlineClusters(caps.embedding_dim, caps.same_speaker_similarity, max_clusters)
        self._cluster_similarity = caps.cluster_similarity
        self._names: dict[int, str] = {}  # cluster -> a known speaker's name
        self._online: dict[int, str] = {}  # cluster -> the label streamed for it
        self._anonymous = 0
        self._starts = array("d")
        self._ends = array("d")
        self._ids = array("q")

    def enroll(self, name: str, pcm: Pcm) -> None:
        """A known speaker from a clip of their voice alone; call before the first `feed`."""
        seconds = len(pcm) / self._rate
        if not REFERENCE_MIN_SECONDS <= seconds <= REFERENCE_MAX_SECONDS:
            raise ValueError(
                f"the reference clip for {name!r} is {seconds:.1f} s long; it must be "
                f"{REFERENCE_MIN_SECONDS:g}-{REFERENCE_MAX_SECONDS:g} s of their voice"
            )
        if len(self._ids):
            raise RuntimeError("known speakers are enrolled before the audio is fed")
        spans = window_spans(len(pcm), self._window, self._hop)
        cluster = self._clusters.enroll(self._embedder.embed([pcm[s:e] for s, e in spans]))
        self._names[cluster] = self._online[cluster] = name

    def feed(self, offset: float, pcm: Pcm) -> list[Turn]:
        """Diarize one speech chunk that starts `offset` seconds into the audio; its turns, online labels."""
        regions = voiced_regions(pcm, self._rate)
        plans = [self._windows(start, end) for start, end in regions]  # window spans in the chunk
        labels = self._assign(pcm, plans)
        turns: list[Turn] = []
        for (start, end), plan, found in zip(regions, plans, labels, strict=True):
            if plan:
                clusters = smoothed(found)
                owned = owned_spans([(s - start, e - start) for s, e in plan], end - start)
                pieces = [(start + s, start + e, c) for (s, e), c in zip(owned, clusters, strict=True)]
            else:  # too short to tell: the previous speaker's, if any
                pieces = [(start, end, _INHERIT)]
            for begin, finish, cluster in pieces:
                seconds = (offset + begin / self._rate, offset + finish / self._rate)
                self._record(*seconds, cluster)
                known = self._last_cluster() if cluster == _INHERIT else cluster
                if known is not None:
                    turns.append(Turn(*seconds, self._label(known)))
        return merge_turns(turns, max_gap=0.0)

    def _assign(self, pcm: Pcm, plans: list[list[tuple[int, int]]]) -> list[list[int]]:
        """Each window's online cluster. Every other window is embedded first, then those between two
        clusters; one between two windows of one cluster is not embedded (`smoothed` would give it their
        label anyway) but counts in it, with their mean as its embedding: up to half the windows of one
        voice's stretch (27 % of the 10-minute bench file's), as many as before at each speaker change."""
        found: list[list[int | None]] = [[None] * len(plan) for plan in plans]
        vectors: dict[tuple[int, int], Embeddings] = {}
        first = [(p, i) for p, plan in enumerate(plans) for i in embedded_first(len(plan))]
        self._embed(pcm, plans, first, found, vectors)
        live = [[None if c is None else self._clusters.resolve(c) for c in row] for row in found]
        between = [(p, i) for p, row in enumerate(live) for i in between_speakers(row)]
        self._embed(pcm, plans, between, found, vectors)
        labels: list[list[int]] = []
        for p, row in enumerate(found):
            for i, cluster in enumerate(row):
                if cluster is None:
                    previous = row[i - 1]
                    assert previous is not None  # embedded: the first and every other window are
                    mean = vectors[p, i - 1] + vectors[p, i + 1]
                    row[i] = self._clusters.join(previous, mean / max(float(np.linalg.norm(mean)), 1e-8))
            labels.append([self._clusters.resolve(c) for c in row if c is not None])
        return labels

    def _embed(
        self,
        pcm: Pcm,
        plans: list[list[tuple[int, int]]],
        chosen: list[tuple[int, int]],
        found: list[list[int | None]],
        vectors: dict[tuple[int, int], Embeddings],
    ) -> None:
        """Embed the chosen windows (region, index) in one call and assign them in order."""
        if not chosen:
            return
        embeddings = self._embedder.embed([pcm[plans[p][i][0] : plans[p][i][1]] for p, i in chosen])
        for (p, i), embedding in zip(chosen, embeddings, strict=True):
            found[p][i] = self._clusters.add(embedding)
            vectors[p, i] = embedding

    def _windows(self, start: int, end: int) -> list[tuple[int, int]]:
        if end - start < MIN_EMBED_SECONDS * self._rate:
            return []
        return [(start + s, start + e) for s, e in window_spans(end - start, self._window, self._hop)]

    def finish(self) -> list[Turn]:
        """Every turn so far with its final label: known speakers by name, others A, B, … in order of
        first appearance, the speaker count within the options' bounds where the clusters allow."""
        ids, centroids, counts, fixed = self._clusters.snapshot()
        if not ids:
            return []
        groups = group_clusters(centroids, counts, fixed, self._cluster_similarity, self._hint)
        group_of = dict(zip(ids, groups, strict=True))
        labels = {group_of[c]: name for c, name in self._names.items()}  # known speakers never merge
        anonymous = 0
        turns: list[Turn] = []
        previous: int | None = None
        pending: list[tuple[float, float]] = []  # short speech before any speaker: takes the first's
        for start, end, cluster in zip(self._starts, self._ends, self._ids, strict=True):
            if cluster == _INHERIT and previous is None:
                pending.append((start, end))
                continue
            group = previous if cluster == _INHERIT else group_of[self._clusters.resolve(cluster)]
            assert group is not None
            if group not in labels:
                labels[group] = speaker_label(anonymous)
                anonymous += 1
            label = labels[group]
            turns.extend(Turn(s, e, label) for s, e in pending)
            pending.clear()
            turns.append(Turn(start, end, label))
            previous = group
        return merge_turns(turns, max_gap=0.0)

    def _record(self, start: float, end: float, cluster: int) -> None:
        if len(self._ids) and self._ids[-1] == cluster and self._ends[-1] == start:
            self._ends[-1] = end
            return
        self._starts.append(start)
        self._ends.append(end)
        self._ids.append(cluster)

    def _last_cluster(self) -> int | None:
        return next((int(c) for c in reversed(self._ids) if c != _INHERIT), None)

    def _label(self, cluster: int) -> str:
        """The online label: a known speaker's name, else a letter in order of first appearance. A cluster
        with too few windows to be a speaker yet, or as like a labelled one as windows of one voice are,
        shows that one's label (as the final pass would group it)."""
        cluster = self._clusters.resolve(cluster)
        if cluster in self._online:
            return self._online[cluster]
        labelled = [c for c in self._online if self._clusters.is_live(c)]
        young = self._clusters.count(cluster) < MIN_SPEAKER_WINDOWS
        if labelled:
            similarity = self._clusters.similarities(cluster, labelled)
            best = int(np.argmax(similarity))
            if similarity[best] >= self._clusters.threshold - (YOUNG_MARGIN if young else 0.0):
                if not young:
                    self._online[cluster] = self._online[labelled[best]]
                return self._online[labelled[best]]
        self._online[cluster] = speaker_label(self._anonymous)
        self._anonymous += 1
        return self._online[cluster]
