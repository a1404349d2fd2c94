"""When partials run and what text they may add. Pure.

Partials transcribe the utterance up to fixed points (`partial_point`): every `step` of audio at first,
then every quarter of what is there, so their cost stays a bounded multiple of real time however long
the utterance. The points do not depend on when audio arrived, so the last partial before a pause in
the sending is the same however the client split its audio.

Deltas only ever extend what was sent, as OpenAI's delta events do.

A hypothesis of a growing utterance ends mid-word, and a longer one may revise earlier words. So a
hypothesis's last word is held back, and words are sent only while the hypothesis starts with every
word sent so far; a revision sends nothing (the final, from the whole utterance, has the last word).
"""

from __future__ import annotations

GROWTH = 4  # past the first steps, the next partial waits for a quarter of the utterance's length


def partial_point(length: int, done: int, step: int) -> int | None:
    """The point (in samples) of the next partial of an utterance `length` samples long whose last one
    was at `done`: the last grid point reached, if past `done`."""
    point = 0
    while (following := point + max(step, point // GROWTH)) <= length:
        point = following
    return point if point > done else None


def stable_delta(sent: str, hypothesis: str) -> str:
    """The text to append to `sent` (possibly "") given the newest `hypothesis` of the utterance."""
    words = hypothesis.split()
    held = words[:-1]  # the last word may be cut by the end of the audio
    done = sent.split()
    if held[: len(done)] != done or len(held) <= len(done):
        return ""
    new = " ".join(held[len(done) :])
    return new if not done else " " + new
