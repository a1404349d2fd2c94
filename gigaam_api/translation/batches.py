"""What goes to the LLM and what must come back: batches of `{id, text}` and the check of the answer. Pure.

Segment texts, never a rendered file, go out as a JSON array; the answer must hold exactly the ids
sent, each with a string. Anything else is a `BatchMismatchError` (the translator retries smaller). A
text that comes back empty keeps the original: a segment (a subtitle cue) is never lost to translation.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from gigaam_api.formats.languages import language_name

_FENCE = re.compile(r"^\s*```[A-Za-z0-9_-]*\s*\n?(.*?)\n?\s*```\s*$", re.DOTALL)
# A reasoning model's thoughts before its answer (Qwen3, DeepSeek-R1 served without a reasoning parser).
_THINKING = re.compile(r"^\s*<think>.*?</think>", re.DOTALL)
SHOWN_IDS = 5


@dataclass(frozen=True, slots=True)
class Item:
    """One segment's text to translate; `id` is its segment id, which the answer must repeat."""

    id: int
    text: str


class BatchMismatchError(Exception):
    """The LLM's answer is not the batch translated: unparsable, ids missing or extra, texts not strings."""


def split(items: Sequence[Item], size: int) -> list[list[Item]]:
    """Consecutive batches of at most `size` items."""
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def halves(batch: Sequence[Item]) -> list[list[Item]]:
    """A batch of two or more in two (the retry after a mismatch)."""
    middle = (len(batch) + 1) // 2
    return [list(batch[:middle]), list(batch[middle:])]


def messages(batch: Sequence[Item], target: str, prompt: str | None = None) -> list[dict[str, str]]:
    """The chat messages for one batch into the language with ISO 639-1 code `target`."""
    name = language_name(target).capitalize()
    system = (
        f"You translate transcript segments into {name}. The user sends a JSON object "
        '{"segments": [{"id": <int>, "text": <string>}, ...]}. Answer with one JSON object '
        '{"segments": [{"id": <int>, "text": <string>}, ...]} holding every id you were sent, once, '
        f"in the same order, each text translated into {name}. Translate each segment on its own; "
        "do not merge, split, drop or add segments. Answer with the JSON only."
    )
    if prompt:
        system += f"\nContext from the user (names, terms): {prompt}"
    payload = {"segments": [{"id": item.id, "text": item.text} for item in batch]}
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": json.dumps(payload, ensure_ascii=False)},
    ]


def parse_answer(content: str, batch: Sequence[Item]) -> dict[int, str]:
    """The translated text of every id in `batch`, from the LLM's answer; `BatchMismatchError` unless
    it holds exactly those ids. Markdown fences and a bare array (no wrapping object) are tolerated.
    An empty text (a filler the model left out) is the original one: rendered empty, its cue would go."""
    entries = _entries(_decoded(content))
    texts: dict[int, str] = {}
    for entry in entries:
        if not isinstance(entry, dict):
            raise BatchMismatchError("an item of the answer is not an object")
        seg_id, text = entry.get("id"), entry.get("text")
        if isinstance(seg_id, str) and seg_id.strip().isdigit():
            seg_id = int(seg_id)
        if not isinstance(seg_id, int) or isinstance(seg_id, bool):
            raise BatchMismatchError("an item of the answer has no integer id")
        if not isinstance(text, str):
            raise BatchMismatchError(f"segment {seg_id} has no text")
        if seg_id in texts:
            raise BatchMismatchError(f"segment {seg_id} is in the answer twice")
        texts[seg_id] = " ".join(text.split())  # one line, as a segment's text is
    sent = [item.id for item in batch]
    missing = [i for i in sent if i not in texts]
    extra = sorted(set(texts) - set(sent))
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing segment ids {_ids(missing)}")
        if extra:
            parts.append(f"unknown segment ids {_ids(extra)}")
        raise BatchMismatchError(f"{len(texts)} items for {len(sent)} segments: {', '.join(parts)}")
    return {item.id: texts[item.id] or item.text for item in batch}


def _decoded(content: str) -> object:
    text = _THINKING.sub("", content).strip()
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced[1].strip()
    try:
        return json.loads(text)
    except ValueError:
        pass
    # Prose around the JSON: the outermost object or array in it.
    for opening, closing in (("{", "}"), ("[", "]")):
        start, end = text.find(opening), text.rfind(closing)
        if 0 <= start < end:
            try:
                return json.loads(text[start : end + 1])
            except ValueError:
                continue
    raise BatchMismatchError("the answer is not JSON")


def _entries(value: object) -> list[object]:
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        if "id" in value and "text" in value:  # one segment sent, one object back
            return [value]
        lists = [v for v in value.values() if isinstance(v, list)]
        if len(lists) == 1:  # `segments`, or whatever single key the model chose
            return lists[0]
    raise BatchMismatchError("the answer holds no list of segments")


def _ids(ids: Sequence[int]) -> str:
    shown = ", ".join(str(i) for i in ids[:SHOWN_IDS])
    return shown + (", …" if len(ids) > SHOWN_IDS else "")
