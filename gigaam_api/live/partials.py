"""The text a partial may add: deltas only ever extend what was sent, as OpenAI's delta events do.

A hypothesis of a growing utterance ends mid-word, and a longer one may revise earlier words. So a
hypothesis's last word is held back, and words are sent only while the hypothesis starts with every
word sent so far; a revision sends nothing (the final, from the whole utterance, has the last word).
"""

from __future__ import annotations


def stable_delta(sent: str, hypothesis: str) -> str:
    """The text to append to `sent` (possibly "") given the newest `hypothesis` of the utterance."""
    words = hypothesis.split()
    held = words[:-1]  # the last word may be cut by the end of the audio
    done = sent.split()
    if held[: len(done)] != done or len(held) <= len(done):
        return ""
    new = " ".join(held[len(done) :])
    return new if not done else " " + new
