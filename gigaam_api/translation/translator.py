"""Translate a transcript's segments: batches out to the LLM, concurrently, each checked by its ids.

A batch whose answer does not match (`batches.parse_answer`) is sent again as two halves, down to
single segments; a single segment that still does not match fails the translation (`translation_failed`).
The times stay the segments' own: only texts cross to the LLM and back.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Iterable, Sequence
from typing import TypeVar

from gigaam_api.transcript import Segment
from gigaam_api.translation import errors
from gigaam_api.translation.batches import BatchMismatchError, Item, halves, messages, parse_answer, split
from gigaam_api.translation.chat import ChatClient
from gigaam_api.translation.timing import retimed

log = logging.getLogger(__name__)
T = TypeVar("T")
# Written without spaces between words: translated segments join with nothing between them.
UNSPACED_LANGUAGES = frozenset({"ja", "th", "yue", "zh"})


class Translator:
    """`batch_segments` segments per call; at most `concurrency` calls at once across the server."""

    def __init__(self, chat: ChatClient, *, batch_segments: int, concurrency: int) -> None:
        self._chat = chat
        self.batch_segments = batch_segments
        self.concurrency = concurrency
        self._calls = asyncio.Semaphore(concurrency)

    async def aclose(self) -> None:
        await self._chat.aclose()

    async def translate(
        self, segments: Sequence[Segment], target: str, *, prompt: str | None = None, temperature: float = 0.0
    ) -> list[Segment]:
        """`segments` with their texts in the language `target` (ISO 639-1); empty texts stay empty."""
        items = [Item(s.id, s.text) for s in segments if s.text.strip()]
        texts: dict[int, str] = {}
        for part in await _all(
            self._translated(batch, target, prompt, temperature)
            for batch in split(items, self.batch_segments)
        ):
            texts.update(part)
        return [translated(s, texts.get(s.id, s.text)) for s in segments]

    async def _translated(
        self, batch: list[Item], target: str, prompt: str | None, temperature: float
    ) -> dict[int, str]:
        async with self._calls:
            try:
                content = await self._chat.complete(messages(batch, target, prompt), temperature=temperature)
                return parse_answer(content, batch)
            except BatchMismatchError as exc:
                reason = str(exc)
        if len(batch) == 1:
            raise errors.failed(f"segment {batch[0].id}: {reason}")
        log.info("translation of %d segments did not match (%s): retrying in halves", len(batch), reason)
        texts: dict[int, str] = {}
        for part in await _all(self._translated(half, target, prompt, temperature) for half in halves(batch)):
            texts.update(part)
        return texts


def translated(segment: Segment, text: str) -> Segment:
    """`segment` with a translated text: its id and times stay, its words are timed over the original
    words' times (`timing.retimed`, what subtitles are cut from), and what belonged to the original
    tokens (ids, log-probabilities) goes."""
    if text == segment.text:
        return segment
    words = retimed(text, segment.words)
    return dataclasses.replace(segment, text=text, words=words, tokens=(), logprobs=(), avg_logprob=0.0)


def separator(target: str) -> str:
    """What joins translated segments' texts in `target`."""
    return "" if target in UNSPACED_LANGUAGES else " "


async def _all(calls: Iterable[Awaitable[T]]) -> list[T]:
    """Every call's result, in order; the first failure cancels the others and is raised."""
    tasks = [asyncio.ensure_future(c) for c in calls]
    try:
        return list(await asyncio.gather(*tasks))
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
