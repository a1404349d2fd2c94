"""Beam searches that prefer keyword phrases: CTC prefix beam search and transducer (RNN-T) beam search,
each scored by a ContextGraph. Pure functions over log-probabilities (CTC) or decoder/joint callables
(RNN-T), so they are tested with crafted numbers and run with any runtime.

Both return the chosen tokens as `Emission`s (token id, output frame, log-probability of that token at
that frame), which onnx-asr turns into text and timestamps exactly as for its greedy decoding.
Without a graph (or with boost 0) they are plain beam searches.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final, Generic, NamedTuple, Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from gigaam_api.engines.context_graph import ContextGraph, ContextState

CTC_BEAM: Final = 8
TRANSDUCER_BEAM: Final = 4
# A token more than this many nats below its frame's best is not expanded: even the largest boost
# cannot buy it back over a phrase, and skipping it keeps silent frames (blank only) cheap.
PRUNE: Final = 12.0
_NO_STATE: Final = ContextState(0, 0, 0)
_NEG_INF: Final = -math.inf


class Emission(NamedTuple):
    token: int
    frame: int
    logprob: float


def _logaddexp(a: float, b: float) -> float:
    if a == _NEG_INF:
        return b
    if b == _NEG_INF:
        return a
    hi, lo = (a, b) if a > b else (b, a)
    return hi + math.log1p(math.exp(lo - hi))


class _Prefixes:
    """All prefixes a search has made, as a tree: a prefix is an int, extending one is O(1)."""

    def __init__(self, graph: ContextGraph | None) -> None:
        self._graph = graph
        self.token = [-1]
        self.parent = [-1]
        self.frame = [0]
        self.logprob = [0.0]
        self.context = [graph.start if graph else _NO_STATE]
        self.bonus = [graph.score(graph.start) if graph else 0.0]
        self._children: dict[tuple[int, int], int] = {}

    def child(self, prefix: int, token: int) -> int:
        key = (prefix, token)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = len(self.token)
            self.token.append(token)
            self.parent.append(prefix)
            self.frame.append(0)
            self.logprob.append(0.0)
            context = self._graph.step(self.context[prefix], token) if self._graph else _NO_STATE
            self.context.append(context)
            self.bonus.append(self._graph.score(context) if self._graph else 0.0)
        return found

    def final_bonus(self, prefix: int) -> float:
        return self._graph.final_score(self.context[prefix]) if self._graph else 0.0

    def emissions(self, prefix: int) -> list[Emission]:
        out: list[Emission] = []
        while prefix > 0:
            out.append(Emission(self.token[prefix], self.frame[prefix], self.logprob[prefix]))
            prefix = self.parent[prefix]
        out.reverse()
        return out


def _candidates(row: npt.NDArray[np.float32], blank: int, width: int) -> list[int]:
    """Up to `width` non-blank tokens within PRUNE of the frame's best, best first."""
    floor = float(row.max()) - PRUNE
    found = np.flatnonzero(row >= floor)
    found = found[found != blank]
    if len(found) > width:
        found = found[np.argsort(row[found])[::-1][:width]]
    return [int(i) for i in found]


def ctc_prefix_beam_search(
    logprobs: npt.NDArray[np.float32],
    blank: int,
    graph: ContextGraph | None = None,
    *,
    beam: int = CTC_BEAM,
) -> list[Emission]:
    """The best token sequence for a (frames, vocab) matrix of CTC log-probabilities.

    A prefix's score is its CTC probability (all alignments, split into ending in blank or not) plus its
    keyword bonus; the `beam` best prefixes survive each frame. A token's frame is the frame where its
    best alignment first writes it.
    """
    prefixes = _Prefixes(graph)
    # prefix -> [log P(ends in blank), log P(ends in its last token)]
    beams: dict[int, list[float]] = {0: [0.0, _NEG_INF]}
    # Frames where only blank is within reach (most of them): every prefix just stays, cheaply.
    within = logprobs >= logprobs.max(axis=1, keepdims=True) - PRUNE
    within[:, blank] = False
    writes = within.any(axis=1)
    for t in range(logprobs.shape[0]):
        row = logprobs[t]
        lp_blank = float(row[blank])
        candidates = _candidates(row, blank, beam) if writes[t] else []
        nxt: dict[int, list[float]] = {}
        for prefix, (p_b, p_nb) in beams.items():
            total = _logaddexp(p_b, p_nb)
            entry = nxt.setdefault(prefix, [_NEG_INF, _NEG_INF])
            entry[0] = _logaddexp(entry[0], total + lp_blank)
            last = prefixes.token[prefix]
            if last >= 0:  # the last token repeated: the same prefix
                entry[1] = _logaddexp(entry[1], p_nb + float(row[last]))
            for token in candidates:
                lp = float(row[token])
                # After a non-blank, the same token again is a new token only across a blank.
                gain = (p_b if token == last else total) + lp
                if gain == _NEG_INF:
                    continue
                child = prefixes.child(prefix, token)
                entry_c = nxt.get(child)
                if entry_c is None:
                    entry_c = nxt[child] = [_NEG_INF, _NEG_INF]
                    before = _NEG_INF if child not in beams else _logaddexp(*beams[child])
                else:
                    before = _logaddexp(*entry_c)
                if gain > before:  # this alignment is now the prefix's best: it places the token
                    prefixes.frame[child] = t
                    prefixes.logprob[child] = lp
                entry_c[1] = _logaddexp(entry_c[1], gain)
        if len(nxt) > beam:
            ranked = sorted(
                nxt.items(), key=lambda kv: _logaddexp(*kv[1]) + prefixes.bonus[kv[0]], reverse=True
            )
            nxt = dict(ranked[:beam])
        beams = nxt
    best = max(beams.items(), key=lambda kv: _logaddexp(*kv[1]) + prefixes.final_bonus(kv[0]))
    return prefixes.emissions(best[0])


S = TypeVar("S")


class Transducer(Protocol[S]):
    """An RNN-T's prediction network and joint, one hypothesis at a time.

    `start()` is the decoder state before any token; `predict(state, token)` the state after feeding
    `token`; `joint(state, frame)` the logits over the vocabulary (blank included) for an encoder frame.
    """

    def start(self) -> S: ...

    def predict(self, state: S, token: int) -> S: ...

    def joint(self, state: S, frame: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]: ...


@dataclass(slots=True)
class _Hypothesis(Generic[S]):
    prefix: int
    score: float  # log-probability of the token sequence, alignments merged
    state: S


def _log_softmax(logits: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    shifted = logits - logits.max()
    result: npt.NDArray[np.float32] = shifted - np.log(np.exp(shifted).sum())
    return result


def transducer_beam_search(
    frames: npt.NDArray[np.float32],
    model: Transducer[S],
    blank: int,
    graph: ContextGraph | None = None,
    *,
    beam: int = TRANSDUCER_BEAM,
    max_symbols: int = 3,
) -> list[Emission]:
    """The best token sequence for (frames, dim) encoder output, with up to `max_symbols` tokens a frame.

    Each frame, every hypothesis either ends the frame (blank) or writes a token and may write again,
    up to `max_symbols` times, as onnx-asr's greedy decoding does; hypotheses with the same tokens merge.
    The `beam` best by score plus keyword bonus survive each step.
    """
    prefixes = _Prefixes(graph)
    hyps: list[_Hypothesis[S]] = [_Hypothesis(0, 0.0, model.start())]

    def rank(hyp: _Hypothesis[S]) -> float:
        return hyp.score + prefixes.bonus[hyp.prefix]

    for t in range(frames.shape[0]):
        frame = frames[t]
        known = {hyp.prefix: hyp.score for hyp in hyps}
        ended: dict[int, _Hypothesis[S]] = {}
        active = hyps
        for _ in range(max_symbols):
            # Prefixes are unique among `active`, so each child has one parent: no merging here.
            grown: list[tuple[float, float, int, _Hypothesis[S], int]] = []
            for hyp in active:
                row = _log_softmax(model.joint(hyp.state, frame))
                _merge(ended, _Hypothesis(hyp.prefix, hyp.score + float(row[blank]), hyp.state))
                for token in _candidates(row, blank, beam):
                    lp = float(row[token])
                    child = prefixes.child(hyp.prefix, token)
                    score = hyp.score + lp
                    if score > known.get(child, _NEG_INF):  # this alignment places the token
                        prefixes.frame[child], prefixes.logprob[child] = t, lp
                    grown.append((score + prefixes.bonus[child], score, child, hyp, token))
            # A hypothesis that writes more can only lose probability: keep it only while it could
            # still be among the `beam` best that end this frame.
            ranks = sorted((rank(h) for h in ended.values()), reverse=True)
            floor = ranks[beam - 1] if len(ranks) >= beam else _NEG_INF
            grown.sort(key=lambda g: g[0], reverse=True)
            active = [
                _Hypothesis(child, score, model.predict(parent.state, token))
                for r, score, child, parent, token in grown[:beam]
                if r > floor
            ]
            if not active:
                break
        for hyp in active:  # `max_symbols` written on this frame: move on without a blank, as greedy does
            _merge(ended, hyp)
        hyps = sorted(ended.values(), key=rank, reverse=True)[:beam]
    best = max(hyps, key=lambda h: h.score + prefixes.final_bonus(h.prefix))
    return prefixes.emissions(best.prefix)


def _merge(into: dict[int, _Hypothesis[S]], hyp: _Hypothesis[S]) -> None:
    kept = into.get(hyp.prefix)
    if kept is None:
        into[hyp.prefix] = hyp
    else:
        kept.score = _logaddexp(kept.score, hyp.score)
