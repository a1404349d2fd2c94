"""The stereo-call test (`audio/stereo_call.py`) on crafted 16 kHz stereo: calls are detected, mixes not."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from gigaam_api.audio.stereo_call import ChannelDominance, is_stereo_call
from gigaam_api.pipeline.transcriber import splits_by_channel
from gigaam_api.speakers.options import DiarizationOptions, KnownSpeaker
from tests.fixtures.speech import write_wav

RATE = 16_000
Stereo = npt.NDArray[np.int16]


def _talk(seconds: float, seed: int) -> npt.NDArray[np.float64]:
    """Speech-like: noise at about -20 dBFS whose loudness swells like syllables (4 Hz)."""
    t = np.arange(round(seconds * RATE)) / RATE
    noise = np.random.default_rng(seed).standard_normal(t.size)
    return 3000.0 * noise * (0.55 + 0.45 * np.sin(2 * np.pi * 4 * t))


def _turns(left_gain: float, right_gain: float, *, crosstalk: float = 0.0) -> Stereo:
    """Two talkers taking six 1.5-s turns with 0.3-s pauses; talker 1 at `left_gain` on the left and
    `right_gain` on the right, talker 2 mirrored; `crosstalk` of each leaks into the other channel."""
    pause = np.zeros(round(0.3 * RATE))
    parts = []
    for turn in range(6):
        voice = _talk(1.5, turn)
        near, far = voice * left_gain, voice * right_gain + crosstalk * voice
        left, right = (near, far) if turn % 2 == 0 else (far, near)
        parts.append(np.stack([left, right], axis=1))
        parts.append(np.zeros((pause.size, 2)))
    return np.clip(np.concatenate(parts), -32768, 32767).astype(np.int16)


def _duplicated(mono: npt.NDArray[np.float64]) -> Stereo:
    return np.repeat(mono.astype(np.int16)[:, None], 2, axis=1)


def test_two_talkers_hard_panned_are_a_call() -> None:
    assert is_stereo_call([_turns(1.0, 0.0)])


def test_a_call_with_faint_line_echo_is_a_call() -> None:
    assert is_stereo_call([_turns(1.0, 0.0, crosstalk=0.05)])  # -26 dB echo on the other side


@pytest.mark.parametrize(
    "audio",
    [
        pytest.param(_duplicated(_talk(9.0, 1)), id="mono duplicated"),
        pytest.param(_turns(1.0, 1.0), id="same signal in both channels"),
        pytest.param(_turns(1.0, 0.5), id="slightly panned mix (6 dB)"),
        pytest.param(np.zeros((10 * RATE, 2), np.int16), id="digital silence"),
        pytest.param(np.full((10 * RATE, 2), 8, np.int16), id="-72 dBFS hum"),
        pytest.param(_turns(1.0, 0.0)[: RATE // 2], id="half a second of a call"),
    ],
)
def test_mixes_and_silence_are_not_a_call(audio: Stereo) -> None:
    assert not is_stereo_call([audio])


def test_one_voice_on_one_channel_is_not_two_speakers() -> None:
    one_side = np.stack([_talk(9.0, 2), np.zeros(9 * RATE)], axis=1).astype(np.int16)
    assert not is_stereo_call([one_side])


def test_counts_do_not_depend_on_how_the_audio_is_cut_into_blocks() -> None:
    audio = _turns(1.0, 0.0)
    whole, pieces = ChannelDominance(), ChannelDominance()
    whole.add(audio)
    for start in range(0, len(audio), 4_111):  # not a multiple of a 20-ms frame
        pieces.add(audio[start : start + 4_111])
    assert (pieces.active, pieces.left, pieces.right) == (whole.active, whole.left, whole.right)
    assert whole.left > 0 and whole.right > 0


@pytest.mark.parametrize(
    ("diarization", "call", "duplicated"),
    [
        pytest.param(DiarizationOptions(), True, False, id="unset: detected"),
        pytest.param(DiarizationOptions(speakers=2), True, False, id="two speakers allow it"),
        pytest.param(DiarizationOptions(per_channel=False), False, False, id="false: never"),
        pytest.param(DiarizationOptions(per_channel=True), True, True, id="true: always"),
        pytest.param(DiarizationOptions(speakers=3), False, False, id="a count without two"),
        pytest.param(DiarizationOptions(min_speakers=3), False, False, id="at least three"),
        pytest.param(
            DiarizationOptions(known_speakers=(KnownSpeaker("Olga", Path("olga.wav")),)),
            False,
            False,
            id="known speakers",
        ),
        pytest.param(None, False, False, id="no diarization"),
    ],
)
def test_a_diarized_request_splits_a_detected_call_unless_told_otherwise(
    diarization: DiarizationOptions | None, call: bool, duplicated: bool, tmp_path: Path
) -> None:
    call_wav = write_wav(tmp_path / "call.wav", _turns(1.0, 0.0) / 32768, channels=2)
    duplicated_wav = write_wav(tmp_path / "duplicated.wav", _talk(9.0, 3) / 32768, channels=2)
    assert asyncio.run(splits_by_channel(call_wav, diarization)) is call
    assert asyncio.run(splits_by_channel(duplicated_wav, diarization)) is duplicated
