"""What translating costs on our side, the LLM's own time excluded, per hour of audio.

An hour of speech is taken as 9,000 words (150 a minute) in segments of about 20 timed words, from
the recordings' sentences. The LLM is the tests' fake (tests/fixtures/fake_llm.py: it upper-cases,
with no model behind it) in a process of its own, over real HTTP; so this process's CPU time is
ours alone: building batches, JSON both ways, httpx, checking ids, retiming words, and rendering
the SRT and verbose_json bodies. Wall time includes the fake's HTTP handling (its own time is tiny).

    python -m bench.translation [--hours 1] [--batch 1 --batch 20]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time

import httpx

from bench.recordings import SENTENCES
from gigaam_api.formats.render import render
from gigaam_api.transcript import Segment, Transcript, Word, segment_of
from gigaam_api.translation.chat import ChatClient
from gigaam_api.translation.translator import Translator, separator

WORDS_PER_HOUR = 9_000
SEGMENT_WORDS = 20
WORD_SECONDS = 0.4


def hour_of_segments(hours: float) -> list[Segment]:
    words = [w.strip(",.?").lower() for s in SENTENCES for w in s.split()]
    segments: list[Segment] = []
    at = 0.0
    for i in range(round(WORDS_PER_HOUR * hours / SEGMENT_WORDS)):
        texts = [words[(i * SEGMENT_WORDS + k) % len(words)] for k in range(SEGMENT_WORDS)]
        timed = tuple(
            Word(w, round(at + k * WORD_SECONDS, 3), round(at + (k + 0.8) * WORD_SECONDS, 3))
            for k, w in enumerate(texts)
        )
        end = round(at + SEGMENT_WORDS * WORD_SECONDS, 3)
        segments.append(segment_of(i, " ".join(texts), start=at, end=end, words=timed))
        at = end + 0.5
    return segments


async def translate_once(url: str, segments: list[Segment], batch: int) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds of this process (translation and rendering) and the calls made."""
    calls = 0

    async def count(_: httpx.Request) -> None:
        nonlocal calls
        calls += 1

    async with httpx.AsyncClient(event_hooks={"request": [count]}) as http:
        chat = ChatClient(http, base_url=url, model="fake", api_key="", timeout=600, json_mode=True)
        translator = Translator(chat, batch_segments=batch, concurrency=2)
        wall, cpu = time.perf_counter(), time.process_time()
        done = await translator.translate(segments, "en")
        transcript = Transcript(tuple(done), segments[-1].end, "english", separator("en"), task="translate")
        render(transcript, "srt")
        render(transcript, "verbose_json")
        return time.perf_counter() - wall, time.process_time() - cpu, calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--hours", type=float, default=1.0, help="hours of speech's text (default 1)")
    parser.add_argument("--batch", type=int, action="append", help="segments per call (default 20)")
    args = parser.parse_args()
    segments = hour_of_segments(args.hours)
    llm = subprocess.Popen(
        [sys.executable, "-m", "tests.fixtures.fake_llm"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert llm.stdout is not None
        url = llm.stdout.readline().strip()
        print(
            f"{len(segments)} segments, {WORDS_PER_HOUR * args.hours:.0f} words ({args.hours:g} h of speech)"
        )
        print("| segments per call | calls | wall s per hour | our CPU s per hour |")
        print("|---|---|---|---|")
        for batch in args.batch or [20]:
            asyncio.run(translate_once(url, segments[:batch], batch))  # warm-up: imports, first connection
            wall, cpu, calls = asyncio.run(translate_once(url, segments, batch))
            print(f"| {batch} | {calls} | {wall / args.hours:.2f} | {cpu / args.hours:.2f} |")
    finally:
        llm.terminate()
        llm.wait()


if __name__ == "__main__":
    main()
