"""Synthetic long recordings: espeak-ng Russian sentences with natural pauses, cached as WAV files."""

from __future__ import annotations

import random
import wave
from pathlib import Path

import numpy as np

from bench.common import SAMPLE_RATE
from tests.fixtures.speech import synthesize, trim_silence

SENTENCES = [
    "Добрый день, коллеги, давайте начнём совещание.",
    "Сегодня мы обсудим план работ на следующий квартал.",
    "Первый пункт касается обновления серверов в главном офисе.",
    "Второй пункт про обучение новых сотрудников отдела продаж.",
    "Бюджет на закупку оборудования пока не утверждён.",
    "Есть ли вопросы по первому пункту повестки?",
    "Хорошо, тогда переходим к обсуждению сроков.",
    "Я предлагаю перенести запуск на две недели позже.",
    "Нам нужно согласовать это решение с руководством.",
    "Спасибо всем за внимание, до встречи на следующей неделе.",
]


def recording(cache: Path, minutes: float, *, seed: int = 7) -> Path:
    """`minutes` of speech: sentences in random order, pauses of 0.3-2.5 s (and a few longer ones)."""
    path = cache / f"speech-{minutes:g}min.wav"
    if path.exists():
        return path
    rng = random.Random(seed)
    clips = [trim_silence(synthesize(s)) for s in SENTENCES]
    target = int(minutes * 60 * SAMPLE_RATE)
    written = 0
    tmp = path.with_suffix(".tmp")
    with wave.open(str(tmp), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        while written < target:
            pause = rng.uniform(0.3, 2.5) if rng.random() > 0.05 else rng.uniform(4, 8)
            block = np.concatenate([np.zeros(int(pause * SAMPLE_RATE), np.float32), rng.choice(clips)])
            block = block[: target - written]
            out.writeframes((np.clip(block, -1, 1) * 32767).astype("<i2").tobytes())
            written += len(block)
    tmp.rename(path)
    return path
