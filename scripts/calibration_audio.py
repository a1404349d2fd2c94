"""Write the calibration audio that NNCF's static int8 quantization reads (`engines/gigaam/calibration.ogg`).

    python -m scripts.calibration_audio

Four minutes of espeak-ng Russian speech (sentences unlike the benchmark's, two speaking rates,
random loudness and pauses, every other 20-s chunk under white or brown noise, all from a fixed seed)
as 16 kHz mono Opus at 24 kbit/s (~0.7 MB). Only activation ranges are taken from it, so synthetic
speech serves; it is shipped in the package because a build must not need the network, and espeak-ng
(a test and bench dependency) is not a runtime one.
"""

from __future__ import annotations

import random
from pathlib import Path

import av
import numpy as np
from av.audio.stream import AudioStream

from gigaam_api.engines.base import SAMPLE_RATE
from gigaam_api.engines.gigaam.calibration import CALIBRATION_FILE, CHUNK_SECONDS, CHUNKS
from tests.fixtures.speech import synthesize, trim_silence

SENTENCES = (
    "Расскажите, пожалуйста, как пройти к ближайшей станции метро.",
    "В понедельник температура воздуха опустится до минус пятнадцати градусов.",
    "Отчёт о продажах за третий квартал будет готов к пятнице.",
    "Мы получили ваше письмо и ответим в течение двух рабочих дней.",
    "Пожалуйста, проверьте номер договора и дату подписания.",
    "Поезд прибывает на второй путь, нумерация вагонов с головы состава.",
    "Врач рекомендовал больше гулять и пить много воды.",
    "Сколько стоит доставка заказа в другой город?",
    "Библиотека работает ежедневно с девяти утра до восьми вечера.",
    "Компания открыла новый филиал в Екатеринбурге и Новосибирске.",
)
SEED = 11
BIT_RATE = 24_000


def speech(seconds: float, rng: random.Random) -> np.ndarray:
    clips = [trim_silence(synthesize(s, speed=speed)) for s in SENTENCES for speed in (130, 175)]
    parts: list[np.ndarray] = []
    length, target = 0, int(seconds * SAMPLE_RATE)
    while length < target:
        pause = np.zeros(int(rng.uniform(0.2, 1.2) * SAMPLE_RATE), np.float32)
        clip = rng.choice(clips) * rng.uniform(0.3, 1.0)
        parts += [pause, clip.astype(np.float32)]
        length += pause.size + clip.size
    return np.concatenate(parts)[:target]


def recording_conditions(audio: np.ndarray, rng: random.Random) -> np.ndarray:
    """Every other chunk under noise (white or brown, 0-25 dB SNR), every chunk at its own level: clean
    synthetic speech alone left activation ranges that clipped noisy input."""
    noise_rng = np.random.default_rng(SEED)
    step = CHUNK_SECONDS * SAMPLE_RATE
    out = audio.copy()
    for index, start in enumerate(range(0, len(out), step)):
        chunk = out[start : start + step]
        if index % 2:
            noise = noise_rng.standard_normal(chunk.size).astype(np.float32)
            if rng.random() < 0.5:  # brown: most energy low, as hum and rumble
                noise = np.cumsum(noise)
                noise -= np.convolve(noise, np.ones(400) / 400, mode="same")
            snr_db = rng.uniform(0, 25)
            scale = np.sqrt(np.mean(chunk**2) / max(float(np.mean(noise**2)), 1e-12) / 10 ** (snr_db / 10))
            chunk += scale * noise
        chunk *= rng.uniform(0.1, 1.0) / max(float(np.abs(chunk).max()), 1e-6)
    return out


def write_opus(samples: np.ndarray, path: Path) -> None:
    with av.open(str(path), "w", format="ogg") as container:
        stream = container.add_stream("libopus", rate=SAMPLE_RATE, layout="mono")
        assert isinstance(stream, AudioStream)
        stream.bit_rate = BIT_RATE
        stream.codec_context.open()
        resampler = av.AudioResampler(
            format=stream.format.name,
            layout="mono",
            rate=SAMPLE_RATE,
            frame_size=stream.codec_context.frame_size,
        )
        frame = av.AudioFrame.from_ndarray(samples[None, :], format="flt", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        for resampled in [*resampler.resample(frame), *resampler.resample(None)]:
            container.mux(stream.encode(resampled))
        container.mux(stream.encode(None))


def main() -> None:
    rng = random.Random(SEED)
    write_opus(recording_conditions(speech(CHUNKS * CHUNK_SECONDS, rng), rng), CALIBRATION_FILE)
    print(f"wrote {CALIBRATION_FILE} ({CALIBRATION_FILE.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
