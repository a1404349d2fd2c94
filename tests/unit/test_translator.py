"""The translator's batching and retries, with a scripted chat client (the HTTP side is tested against
real servers in tests/integration/test_translations.py)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence

import pytest

from gigaam_api.errors import APIError
from gigaam_api.transcript import Segment, Word
from gigaam_api.translation.chat import ChatClient
from gigaam_api.translation.translator import Translator


class _ScriptedChat(ChatClient):
    """Upper-cases; drops the last item of any batch larger than `max_ok`."""

    def __init__(self, max_ok: int) -> None:
        self.max_ok = max_ok
        self.batches: list[list[int]] = []

    async def complete(self, messages: Sequence[dict[str, str]], *, temperature: float) -> str:
        items = json.loads(messages[-1]["content"])["segments"]
        self.batches.append([item["id"] for item in items])
        answer = [{"id": item["id"], "text": item["text"].upper()} for item in items]
        return json.dumps({"segments": answer[:-1] if len(answer) > self.max_ok else answer})


def _segments(texts: Sequence[str]) -> list[Segment]:
    return [
        Segment(i, float(i), i + 0.5, text, words=tuple(Word(w, float(i), i + 0.5) for w in text.split()))
        for i, text in enumerate(texts)
    ]


def test_batches_that_come_back_short_are_halved_down_to_what_works() -> None:
    chat = _ScriptedChat(max_ok=1)
    translator = Translator(chat, batch_segments=4, concurrency=1)
    segments = _segments(["раз", "", "два", "три", "четыре"])
    result = asyncio.run(translator.translate(segments, "en"))
    assert [s.text for s in result] == ["РАЗ", "", "ДВА", "ТРИ", "ЧЕТЫРЕ"]
    assert [(s.id, s.start, s.end) for s in result] == [(s.id, s.start, s.end) for s in segments]
    assert chat.batches[0] == [0, 2, 3, 4]  # empty texts never go out
    assert sorted(chat.batches[1:]) == [[0], [0, 2], [2], [3], [3, 4], [4]]


def test_one_segment_that_does_not_match_fails_the_translation() -> None:
    translator = Translator(_ScriptedChat(max_ok=0), batch_segments=2, concurrency=2)
    with pytest.raises(APIError) as caught:
        asyncio.run(translator.translate(_segments(["раз", "два"]), "en"))
    assert caught.value.status == 502
    assert caught.value.code == "translation_failed"
    assert "missing segment ids" in caught.value.message


class _GatedChat(ChatClient):
    """Upper-cases, each call held until `gate` is set; counts the calls in flight."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.in_flight = 0
        self.most = 0
        self.calls = 0

    async def complete(self, messages: Sequence[dict[str, str]], *, temperature: float) -> str:
        self.calls += 1
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        try:
            await self.gate.wait()
        finally:
            self.in_flight -= 1
        items = json.loads(messages[-1]["content"])["segments"]
        return json.dumps({"segments": [{"id": i["id"], "text": i["text"].upper()} for i in items]})


def test_calls_across_translations_never_exceed_the_concurrency() -> None:
    async def scenario() -> None:
        chat = _GatedChat()
        translator = Translator(chat, batch_segments=1, concurrency=2)
        first = asyncio.ensure_future(translator.translate(_segments(["а", "б", "в"]), "en"))
        second = asyncio.ensure_future(translator.translate(_segments(["г", "д", "е"]), "en"))
        for _ in range(50):  # every task gets its turn: only the semaphore holds the rest back
            await asyncio.sleep(0)
        assert (chat.calls, chat.in_flight) == (2, 2)
        chat.gate.set()
        results = await asyncio.gather(first, second)
        assert [[s.text for s in r] for r in results] == [["А", "Б", "В"], ["Г", "Д", "Е"]]
        assert chat.most == 2 and chat.calls == 6

    asyncio.run(scenario())
