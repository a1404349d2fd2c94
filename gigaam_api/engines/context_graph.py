"""A context graph: the keyword phrases as an Aho-Corasick automaton that scores hypotheses as they grow.

The technique is icefall's and sherpa-onnx's contextual biasing: a hypothesis that is spelling a phrase
earns `boost` per letter; if it leaves the phrase before its end, the partial bonus is taken back, so
only complete phrases keep a bonus. Unlike theirs, this automaton runs over letters, not token ids: a
token advances it by its text, so any segmentation of a phrase into the model's tokens matches (GigaAM's
E2E vocabularies are sentencepiece pieces the service cannot re-tokenise exactly).

Phrases match whole words: each is stored as " phrase " and the decoder starts and ends a chunk at a
space, so "кот" is not rewarded inside "котлета". Case and `ё` are folded, and any character that is
not a letter becomes a word break (punctuation of the E2E models ends a phrase like a space does).

A hypothesis' state is `(node, anchor, locked)`: its automaton node; how many letters of that node's
path are already paid for by a completed phrase; letters earned by completed phrases. Its bonus is
`boost * (locked + letters(node) - anchor)`; at the end of the chunk only `locked` counts.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from typing import Final, NamedTuple

ROOT: Final = 0


class ContextState(NamedTuple):
    node: int
    anchor: int  # letters of the node's path already paid by a completed phrase
    locked: int  # letters of completed phrases


def fold(text: str) -> str:
    """Token or phrase text as the automaton reads it: lower case, `ё` as `е`, non-letters as spaces."""
    return "".join(c if c.isalpha() else " " for c in text.lower().replace("ё", "е"))


class ContextGraph:
    """The automaton for a set of normalised phrases and a boost; token texts are indexed by token id.

    `token_texts[i]` is token i's text as the model writes it (the word mark as a space); tokens that
    write nothing (blank) are never stepped.
    """

    def __init__(self, phrases: Iterable[str], boost: float, token_texts: Sequence[str]) -> None:
        self.boost = boost
        self._texts = [fold(t) for t in token_texts]
        self._children: list[dict[str, int]] = [{}]
        self._letters = [0]  # letters (not spaces) on the path from the root
        self._end = [False]
        for phrase in phrases:
            self._insert(f" {fold(phrase).strip()} ")
        self._fail = self._failure_links()
        self._steps: dict[tuple[int, int, int], tuple[int, int, int]] = {}
        self._continuations: dict[int, tuple[int, ...]] = {}
        self.start = self._step_text(ContextState(ROOT, 0, 0), " ")

    def _insert(self, pattern: str) -> None:
        node = ROOT
        for char in pattern:
            child = self._children[node].get(char)
            if child is None:
                child = len(self._children)
                self._children[node][char] = child
                self._children.append({})
                self._letters.append(self._letters[node] + (char != " "))
                self._end.append(False)
            node = child
        self._end[node] = True

    def _failure_links(self) -> list[int]:
        fail = [ROOT] * len(self._children)
        queue = deque(self._children[ROOT].values())
        while queue:
            node = queue.popleft()
            for char, child in self._children[node].items():
                target = fail[node]
                while target != ROOT and char not in self._children[target]:
                    target = fail[target]
                found = self._children[target].get(char, ROOT)
                fail[child] = found if found != child else ROOT
                queue.append(child)
        return fail

    def _step_char(self, state: ContextState, char: str) -> ContextState:
        node, anchor, locked = state
        child = self._children[node].get(char)
        if child is None:
            # Leave the phrase: follow failure links to the longest phrase prefix the text still ends with.
            target = node
            while target != ROOT and char not in self._children[target]:
                target = self._fail[target]
            child = self._children[target].get(char, ROOT)
            # Letters of the new match that lie inside an already paid phrase are not paid again.
            unpaid_before = self._letters[node] - anchor + (char != " ")
            anchor = max(0, self._letters[child] - unpaid_before)
        if self._end[child]:
            locked += self._letters[child] - anchor
            anchor = self._letters[child]
        return ContextState(child, anchor, locked)

    def _step_text(self, state: ContextState, text: str) -> ContextState:
        for char in text:
            state = self._step_char(state, char)
        return state

    def step(self, state: ContextState, token: int) -> ContextState:
        """The state after the hypothesis writes `token` (memoised: the same few steps repeat)."""
        key = (state.node, state.anchor, token)
        found = self._steps.get(key)
        if found is None:
            after = self._step_text(ContextState(state.node, state.anchor, 0), self._texts[token])
            found = self._steps[key] = (after.node, after.anchor, after.locked)
        return ContextState(found[0], found[1], state.locked + found[2])

    def continuations(self, state: ContextState) -> tuple[int, ...]:
        """Tokens that spell on along a phrase from `state`: the searches expand them even when the
        model ranks them below its top few, so a phrase is reachable wherever it is plausible."""
        found = self._continuations.get(state.node)
        if found is None:
            found = self._continuations[state.node] = tuple(
                token for token, text in enumerate(self._texts) if text and self._follows(state.node, text)
            )
        return found

    def _follows(self, node: int, text: str) -> bool:
        for char in text:
            child = self._children[node].get(char)
            if child is None:
                return False
            node = child
        return True

    def score(self, state: ContextState) -> float:
        """The bonus while decoding: completed phrases plus the phrase being spelled."""
        return self.boost * (state.locked + self._letters[state.node] - state.anchor)

    def final_score(self, state: ContextState) -> float:
        """The bonus at the end of a chunk, which ends a word: completed phrases only."""
        return self.boost * self._step_text(state, " ").locked
