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
# A token more than this many nats below its frame's best (one chance in 160,000) is never expanded,
# whatever the boost: the audio does not resemble it. It also keeps blank-only frames cheap.
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
    """The token sequences a search has made, and where their tokens were placed.

    A sequence is an int key (extending one is O(1)); its keyword state and bonus depend on its tokens
    only. A placement is an immutable node (token, frame, log-probability, parent placement): hypotheses
    with the same tokens merge under one key but each keeps the placement of its best alignment, so the
    frames along any placement chain only grow.
    """

    def __init__(self, graph: ContextGraph | None) -> None:
        self._graph = graph
        self._keys: dict[tuple[int, int], int] = {}
        self.last = [-1]  # the sequence's last token
        self.context = [graph.start if graph else _NO_STATE]
        self.bonus = [graph.score(graph.start) if graph else 0.0]
        self._placed: list[tuple[int, Emission]] = [(-1, Emission(-1, 0, 0.0))]  # (parent, emission)

    def extend(self, key: int, token: int) -> int:
        found = self._keys.get((key, token))
        if found is None:
            found = self._keys[key, token] = len(self.last)
            self.last.append(token)
            context = self._graph.step(self.context[key], token) if self._graph else _NO_STATE
            self.context.append(context)
            self.bonus.append(self._graph.score(context) if self._graph else 0.0)
        return found

    def place(self, parent: int, token: int, logprob: float, frame: int) -> int:
        self._placed.append((parent, Emission(token, frame, logprob)))
        return len(self._placed) - 1

    def continuations(self, key: int) -> tuple[int, ...]:
        return self._graph.continuations(self.context[key]) if self._graph else ()

    def final_bonus(self, key: int) -> float:
        return self._graph.final_score(self.context[key]) if self._graph else 0.0

    def emissions(self, node: int) -> list[Emission]:
        out: list[Emission] = []
        while node > 0:
            node, emission = self._placed[node]
            out.append(emission)
        out.reverse()
        return out


def _candidates(row: npt.NDArray[np.float32], blank: int, width: int) -> tuple[list[int], float]:
    """Up to `width` non-blank tokens within PRUNE of the frame's best, best first; and that floor."""
    floor = float(row.max()) - PRUNE
    found = np.flatnonzero(row >= floor)
    found = found[found != blank]
    if len(found) > width:
        found = found[np.argsort(row[found])[::-1][:width]]
    return [int(i) for i in found], floor


def _with_continuations(
    candidates: list[int],
    continuations: tuple[int, ...],
    row: npt.NDArray[np.float32],
    floor: float,
    blank: int,
) -> list[int]:
    """The frame's candidates plus the tokens that spell on along a phrase, if within reach."""
    extra = [t for t in continuations if t != blank and t not in candidates and row[t] >= floor]
    return candidates + extra if extra else candidates


@dataclass(slots=True)
class _CtcEntry:
    """A sequence in the CTC beam: log P(its alignments ending in blank / in its last token), and the
    placement of its best alignment (`pending`: the token that alignment writes on this frame)."""

    blank: float
    token: float
    node: int
    best: float
    pending: tuple[int, float] | None = None

    def total(self) -> float:
        return _logaddexp(self.blank, self.token)


def _offer(beams: dict[int, _CtcEntry], key: int, entry: _CtcEntry) -> None:
    kept = beams.get(key)
    if kept is None:
        beams[key] = entry
        return
    kept.blank = _logaddexp(kept.blank, entry.blank)
    kept.token = _logaddexp(kept.token, entry.token)
    if entry.best > kept.best:
        kept.node, kept.best, kept.pending = entry.node, entry.best, entry.pending


def ctc_prefix_beam_search(
    logprobs: npt.NDArray[np.float32],
    blank: int,
    graph: ContextGraph | None = None,
    *,
    beam: int = CTC_BEAM,
) -> list[Emission]:
    """The best token sequence for a (frames, vocab) matrix of CTC log-probabilities.

    A sequence's score is its CTC probability (all its alignments) plus its keyword bonus; the `beam`
    best survive each frame. A token's frame is where the sequence's best alignment writes it.
    """
    prefixes = _Prefixes(graph)
    beams = {0: _CtcEntry(0.0, _NEG_INF, 0, 0.0)}
    # Frames where only blank is within reach (most of them): every sequence just stays, cheaply.
    within = logprobs >= logprobs.max(axis=1, keepdims=True) - PRUNE
    within[:, blank] = False
    writes = within.any(axis=1)
    for t in range(logprobs.shape[0]):
        row = logprobs[t]
        lp_blank = float(row[blank])
        candidates, floor = _candidates(row, blank, beam) if writes[t] else ([], 0.0)
        nxt: dict[int, _CtcEntry] = {}
        for key, entry in beams.items():
            total = entry.total()
            last = prefixes.last[key]
            # The sequence stays: a blank, or its last token held on (the same placement).
            stay_blank = total + lp_blank
            stay_token = entry.token + float(row[last]) if last >= 0 else _NEG_INF
            _offer(
                nxt, key, _CtcEntry(stay_blank, stay_token, entry.node, _logaddexp(stay_blank, stay_token))
            )
            if not writes[t]:
                continue
            for token in _with_continuations(candidates, prefixes.continuations(key), row, floor, blank):
                lp = float(row[token])
                # After its last token, the same token again is a new token only across a blank.
                gain = (entry.blank if token == last else total) + lp
                if gain > _NEG_INF:
                    child = prefixes.extend(key, token)
                    _offer(nxt, child, _CtcEntry(_NEG_INF, gain, entry.node, gain, (token, lp)))
        if len(nxt) > beam:
            ranked = sorted(nxt.items(), key=lambda kv: kv[1].total() + prefixes.bonus[kv[0]], reverse=True)
            nxt = dict(ranked[:beam])
        for entry in nxt.values():
            if entry.pending is not None:
                entry.node = prefixes.place(entry.node, *entry.pending, t)
                entry.pending = None
        beams = nxt
    best = max(beams.items(), key=lambda kv: kv[1].total() + prefixes.final_bonus(kv[0]))[1]
    return prefixes.emissions(best.node)


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
    key: int  # its token sequence
    node: int  # where its best alignment placed its tokens
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
    hyps: list[_Hypothesis[S]] = [_Hypothesis(0, 0, 0.0, model.start())]

    def rank(hyp: _Hypothesis[S]) -> float:
        return hyp.score + prefixes.bonus[hyp.key]

    for t in range(frames.shape[0]):
        frame = frames[t]
        ended: dict[int, _Hypothesis[S]] = {}
        active = hyps
        for _ in range(max_symbols):
            # Sequences are unique among `active`, so each grown sequence has one parent here.
            grown: list[tuple[float, float, int, _Hypothesis[S], int, float]] = []
            for hyp in active:
                row = _log_softmax(model.joint(hyp.state, frame))
                _merge(ended, _Hypothesis(hyp.key, hyp.node, hyp.score + float(row[blank]), hyp.state))
                top, floor = _candidates(row, blank, beam)
                for token in _with_continuations(top, prefixes.continuations(hyp.key), row, floor, blank):
                    lp = float(row[token])
                    child = prefixes.extend(hyp.key, token)
                    score = hyp.score + lp
                    grown.append((score + prefixes.bonus[child], score, child, hyp, token, lp))
            # Writing more only loses probability: a hypothesis goes on writing only while it could
            # still be among the `beam` best that end this frame.
            ranks = sorted((rank(h) for h in ended.values()), reverse=True)
            cutoff = ranks[beam - 1] if len(ranks) >= beam else _NEG_INF
            grown.sort(key=lambda g: g[0], reverse=True)
            active = [
                _Hypothesis(
                    child,
                    prefixes.place(parent.node, token, lp, t),
                    score,
                    model.predict(parent.state, token),
                )
                for bonus_rank, score, child, parent, token, lp in grown[:beam]
                if bonus_rank > cutoff
            ]
            if not active:
                break
        for hyp in active:  # `max_symbols` written on this frame: move on without a blank, as greedy does
            _merge(ended, hyp)
        hyps = sorted(ended.values(), key=rank, reverse=True)[:beam]
    best = max(hyps, key=lambda h: h.score + prefixes.final_bonus(h.key))
    return prefixes.emissions(best.node)


def _merge(into: dict[int, _Hypothesis[S]], hyp: _Hypothesis[S]) -> None:
    kept = into.get(hyp.key)
    if kept is None:
        into[hyp.key] = hyp
        return
    if hyp.score > kept.score:  # the better alignment's placement
        kept.node = hyp.node
    kept.score = _logaddexp(kept.score, hyp.score)
