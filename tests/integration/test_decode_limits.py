"""What decoding refuses, and how early: forged headers, uploads that expand enormously, a full spool.

Real files through real PyAV; the budget figures come from the defaults in `Settings`.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from gigaam_api.audio.decode import (
    AudioDecodeError,
    DecodeBudgetError,
    PcmBudget,
    SilenceLimit,
    SilentAudioError,
    decode_all,
    decode_to_pcm,
)
from gigaam_api.audio.pcm import PcmSpool
from gigaam_api.audio.rate import SAMPLE_RATE
from gigaam_api.audio.spool import SpoolFullError
from gigaam_api.config import load_settings
from tests.fixtures.speech import Audio, _mux_audio, encode, forged_wav, long_speech, silent_flac, write_wav

DEFAULTS = load_settings(_env_file=None)
DEFAULT_BUDGET = PcmBudget(DEFAULTS.MAX_DECODE_RATIO, DEFAULTS.decode_floor_bytes)
UNCONVERTIBLE = (
    "The audio could not be converted to 16 kHz mono: its header declares an unusable sample rate "
    "or channel layout."
)


@pytest.mark.parametrize(
    ("rate", "channels"),
    [(0x7FFFFFFF, 1), (16_000, 255), (1, 1)],
    ids=["rate-2^31-1", "255-channels", "1-Hz"],
)
def test_forged_wav_headers_are_unusable_audio(tmp_path: Path, rate: int, channels: int) -> None:
    source = forged_wav(tmp_path / "upload", rate=rate, channels=channels, data_bytes=40_000)

    with PcmSpool(tmp_path / "pcm") as spool:
        with pytest.raises(AudioDecodeError) as caught:
            decode_to_pcm(source, spool, max_seconds=DEFAULTS.MAX_AUDIO_SECONDS, budget=DEFAULT_BUDGET)
        assert str(caught.value) == UNCONVERTIBLE
        assert spool.error is caught.value
        assert spool.available == 0


def test_hours_of_silence_in_a_tiny_flac_stop_at_the_budget(tmp_path: Path) -> None:
    source = silent_flac(tmp_path / "upload", hours=3)
    budget_bytes = DEFAULT_BUDGET.max_bytes(source.stat().st_size)
    charged: list[int] = []

    with PcmSpool(tmp_path / "pcm") as spool:
        with pytest.raises(DecodeBudgetError) as caught:
            decode_to_pcm(
                source,
                spool,
                max_seconds=DEFAULTS.MAX_AUDIO_SECONDS,
                budget=DEFAULT_BUDGET,
                charge=charged.append,
            )
        written = (tmp_path / "pcm").stat().st_size

    claimed_mb = 3 * 3600 * SAMPLE_RATE * 2 / 2**20
    print(
        f"{source.stat().st_size / 1024:.0f} KB FLAC claiming 3 h ({claimed_mb:.0f} MB of PCM): "
        f"refused after {written / 2**20:.1f} MB (budget {budget_bytes / 2**20:.0f} MB)"
    )
    assert budget_bytes == DEFAULTS.decode_floor_bytes  # a 45 KB upload gets the floor
    assert "more than 64 MB of 16 kHz audio" in str(caught.value)
    assert written <= budget_bytes
    assert written > budget_bytes - SAMPLE_RATE * 2  # stopped within the last second of the budget
    assert sum(charged) == written


def test_a_full_spool_stops_decoding_before_the_write(tmp_path: Path) -> None:
    source = forged_wav(tmp_path / "upload", rate=16_000, channels=1, data_bytes=10 * SAMPLE_RATE * 2)
    allowed = 3 * SAMPLE_RATE * 2
    charged = 0

    def charge(nbytes: int) -> None:
        nonlocal charged
        if charged + nbytes > allowed:
            raise SpoolFullError
        charged += nbytes

    with PcmSpool(tmp_path / "pcm") as spool:
        with pytest.raises(SpoolFullError):
            decode_to_pcm(source, spool, max_seconds=60, budget=DEFAULT_BUDGET, charge=charge)
        assert isinstance(spool.error, SpoolFullError)
        assert spool.available * 2 == charged <= allowed


def _encode(samples: Audio, path: Path, fmt: tuple[str, str, int, int]) -> Path:
    container, codec, rate, bitrate = fmt
    with av.open(str(path), "w", format=container) as out:
        stream = out.add_stream(codec, rate=rate, layout="mono")
        assert isinstance(stream, av.AudioStream)
        stream.bit_rate = bitrate
        stream.codec_context.open()  # after the bitrate is set: an open encoder knows its frame size
        _mux_audio(out, stream, samples)
    return path


# The lowest bitrates real speech is stored at; digital silence is where VBR codecs expand most.
LOW_BITRATE = {
    "opus-6kbps-ogg": ("ogg", "libopus", 16_000, 6_000),
    "opus-6kbps-webm": ("webm", "libopus", 48_000, 6_000),
    "amr-nb-4.75kbps": ("amr", "libopencore_amrnb", 8_000, 4_750),
    "g723.1-6.3kbps-wav": ("wav", "g723_1", 8_000, 6_300),
    "mp3-8kbps": ("mp3", "libmp3lame", 8_000, 8_000),
}


@pytest.mark.parametrize("name", LOW_BITRATE)
@pytest.mark.parametrize("content", ["speech", "silence"])
def test_low_bitrate_speech_expands_less_than_the_default_ratio(
    tmp_path: Path, name: str, content: str
) -> None:
    if content == "speech":
        samples, _ = long_speech(
            ["Добрый день.", "Сегодня мы поговорим о распознавании речи."], [0.5, 3.0, 2.0]
        )
    else:
        samples = np.zeros(60 * SAMPLE_RATE, dtype=np.float32)
    source = _encode(samples, tmp_path / "upload", LOW_BITRATE[name])

    pcm_bytes = decode_all(source, max_seconds=600).size * 2
    ratio = pcm_bytes / source.stat().st_size

    print(f"{name} {content}: {source.stat().st_size} B -> {pcm_bytes} B, x{ratio:.1f}")
    assert ratio < DEFAULTS.MAX_DECODE_RATIO


# Formats whose container declares the duration (FFmpeg reads it, never estimates it) and those it does not:
# browser WebM has none, and MP3 without a Xing header would be an estimate from the bitrate.
DECLARING = ["wav", "ogg", "flac", "m4a", "mp4"]
UNDECLARED = ["mp3", "webm"]


@pytest.mark.parametrize("fmt", DECLARING + UNDECLARED)
def test_a_declared_duration_past_the_limit_is_refused_before_decoding(tmp_path: Path, fmt: str) -> None:
    samples, _ = long_speech(["Добрый день.", "Сегодня мы поговорим о распознавании речи."], [0.5, 3.0, 2.0])
    source = encode(samples, tmp_path / f"upload.{fmt}", fmt)
    charged: list[int] = []

    with PcmSpool(tmp_path / "pcm") as spool:
        with pytest.raises(AudioDecodeError, match="longer than the limit of 2 seconds") as caught:
            decode_to_pcm(source, spool, max_seconds=2, budget=DEFAULT_BUDGET, charge=charged.append)
        written = spool.available

    if fmt in DECLARING:
        assert "the file declares" in str(caught.value)
        assert written == 0 and charged == []  # refused from the header: nothing decoded or spooled
    else:
        assert written > 0  # counted from the decoded samples, as before


def test_a_declared_duration_a_little_over_the_decoded_one_is_not_refused(tmp_path: Path) -> None:
    samples, _ = long_speech(["Добрый день."], [0.5, 0.5])
    source = encode(samples, tmp_path / "upload.m4a", "m4a")  # AAC's padding: it declares a bit more
    seconds = decode_all(source, max_seconds=600).size / SAMPLE_RATE

    assert decode_all(source, max_seconds=seconds).size == seconds * SAMPLE_RATE


def test_hours_of_silence_stop_at_the_silence_limit(tmp_path: Path) -> None:
    source = silent_flac(tmp_path / "upload", hours=3)
    charged: list[int] = []

    with PcmSpool(tmp_path / "pcm") as spool:
        with pytest.raises(SilentAudioError, match="first 60 seconds hold no sound") as caught:
            decode_to_pcm(
                source,
                spool,
                max_seconds=DEFAULTS.MAX_AUDIO_SECONDS,
                budget=DEFAULT_BUDGET,
                charge=charged.append,
                silence=SilenceLimit(60),
            )
        written = (tmp_path / "pcm").stat().st_size

    assert isinstance(caught.value, AudioDecodeError)  # a 400 for the client
    assert written == sum(charged) <= 60 * SAMPLE_RATE * 2  # never a sample past the limit


def _with_sound(path: Path, parts: list[tuple[float, float]]) -> Path:
    """A WAV of (seconds, amplitude) parts: amplitude 0 is digital silence, else a 440 Hz tone."""
    pieces = []
    for seconds, amplitude in parts:
        t = np.arange(round(seconds * SAMPLE_RATE)) / SAMPLE_RATE
        pieces.append((amplitude * np.sin(2 * np.pi * 440 * t)).astype(np.float32))
    return write_wav(path, np.concatenate(pieces))


@pytest.mark.parametrize(
    "parts",
    [
        [(0.5, 0.3), (8.0, 0.0), (0.5, 0.3)],  # sound, a pause four times the limit, sound
        [(1.9, 0.0), (0.5, 0.3), (8.0, 0.0)],  # leading silence just under the limit, then sound
        [(6.0, 0.002), (0.5, 0.3)],  # a quiet room (-54 dBFS) longer than the limit, then sound
    ],
    ids=["long-pause", "leading-silence-under-the-limit", "quiet-room"],
)
def test_sound_within_the_silence_limit_is_never_refused(
    tmp_path: Path, parts: list[tuple[float, float]]
) -> None:
    source = _with_sound(tmp_path / "upload.wav", parts)

    with PcmSpool(tmp_path / "pcm") as spool:
        decode_to_pcm(source, spool, max_seconds=600, silence=SilenceLimit(2))
        assert spool.total == round(sum(seconds for seconds, _ in parts) * SAMPLE_RATE)
