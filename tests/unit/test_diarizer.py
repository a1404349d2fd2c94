"""The diarizer's bookkeeping with a stub speaker model whose embedding is the pitch of a pure tone:
labels in order of first appearance, online and final, short speech, pauses, known speakers."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pytest

from gigaam_api.speakers.base import SpeakerCapabilities
from gigaam_api.speakers.diarizer import Diarizer
from gigaam_api.speakers.options import DiarizationOptions
from gigaam_api.speakers.turns import Turn

RATE = 16_000
PITCHES = (150.0, 300.0, 600.0)  # one "voice" each: orthogonal embeddings


class PitchEmbedder:
    """A window's embedding is the one-hot of the nearest of PITCHES to its dominant frequency."""

    capabilities = SpeakerCapabilities(
        model_id="pitch", sample_rate=RATE, window_seconds=1.0, hop_seconds=0.5, embedding_dim=len(PITCHES),
        same_speaker_similarity=0.9, cluster_similarity=0.9, frontend="waveform",
    )  # fmt: skip

    def __init__(self) -> None:
        self.windows: list[int] = []

    def embed(self, windows: Sequence[npt.NDArray[np.float32]]) -> npt.NDArray[np.float32]:
        out = np.zeros((len(windows), len(PITCHES)), dtype=np.float32)
        for row, window in enumerate(windows):
            self.windows.append(len(window))
            spectrum = np.abs(np.fft.rfft(window))
            peak = np.argmax(spectrum) * RATE / len(window)
            out[row, int(np.argmin([abs(peak - p) for p in PITCHES]))] = 1.0
        return out


def tone(voice: int, seconds: float) -> npt.NDArray[np.float32]:
    t = np.arange(round(seconds * RATE)) / RATE
    return (0.3 * np.sin(2 * np.pi * PITCHES[voice] * t)).astype(np.float32)


def pause(seconds: float) -> npt.NDArray[np.float32]:
    return np.zeros(round(seconds * RATE), np.float32)


def test_turns_inside_a_chunk_follow_its_pauses_and_labels_follow_first_appearance() -> None:
    diarizer = Diarizer(PitchEmbedder())
    chunk = np.concatenate([tone(1, 3.0), pause(0.5), tone(0, 3.0), pause(0.5), tone(1, 1.0)])

    online = diarizer.feed(10.0, chunk)

    assert [t.speaker for t in online] == ["A", "B", "A"]
    assert online[0].start == 10.0 and online[1].start == pytest.approx(13.5, abs=0.02)
    assert online[-1].end == pytest.approx(18.0, abs=0.02)
    assert diarizer.finish() == online  # one chunk, clear voices: nothing to relabel


def test_speech_too_short_to_embed_takes_the_speaker_before_it() -> None:
    embedder = PitchEmbedder()
    diarizer = Diarizer(embedder)
    diarizer.feed(0.0, tone(2, 0.3))  # nobody yet: no online turn, the first speaker's at the end
    diarizer.feed(1.0, tone(0, 2.0))
    online = diarizer.feed(4.0, tone(1, 0.3))

    assert online == [Turn(4.0, 4.3, "A")]
    assert diarizer.finish() == [Turn(0.0, 0.3, "A"), Turn(1.0, 3.0, "A"), Turn(4.0, 4.3, "A")]
    assert all(n >= RATE // 2 for n in embedder.windows)  # the short ones were never embedded


def test_known_speakers_are_named_and_must_come_first() -> None:
    diarizer = Diarizer(PitchEmbedder(), DiarizationOptions())
    diarizer.enroll("Olga", tone(1, 3.0))
    with pytest.raises(ValueError, match="2-10 s"):
        diarizer.enroll("Ivan", tone(0, 1.0))

    turns = diarizer.feed(0.0, np.concatenate([tone(0, 3.0), pause(0.5), tone(1, 2.0)]))

    assert [t.speaker for t in turns] == ["A", "Olga"]
    assert [t.speaker for t in diarizer.finish()] == ["A", "Olga"]
    with pytest.raises(RuntimeError):
        diarizer.enroll("Late", tone(2, 3.0))


def test_a_voice_heard_for_too_few_windows_is_no_speaker_in_the_end() -> None:
    diarizer = Diarizer(PitchEmbedder())
    online = diarizer.feed(
        0.0, np.concatenate([tone(0, 3.0), pause(0.5), tone(2, 1.5), pause(0.5), tone(0, 3.0)])
    )

    assert [t.speaker for t in online] == ["A", "B", "A"]  # 2 windows of another pitch: a cough, a laugh
    assert {t.speaker for t in diarizer.finish()} == {"A"}


def test_an_exact_count_merges_voices_in_the_final_labels() -> None:
    diarizer = Diarizer(PitchEmbedder(), DiarizationOptions(speakers=1))
    online = diarizer.feed(0.0, np.concatenate([tone(0, 3.0), pause(0.5), tone(2, 3.0)]))

    assert [t.speaker for t in online] == ["A", "B"]  # online, the voices differ
    assert {t.speaker for t in diarizer.finish()} == {"A"}


def test_a_window_between_two_of_one_voice_is_not_embedded_one_between_two_voices_is() -> None:
    # A window every 0.5 s (1-s windows): 5 s of one voice, then 5 s of another, no pause between.
    one = PitchEmbedder()
    one_voice = Diarizer(one).feed(0.0, tone(0, 10.0))
    two = PitchEmbedder()
    two_voices = Diarizer(two).feed(0.0, np.concatenate([tone(0, 5.0), tone(1, 5.0)]))

    assert [t.speaker for t in one_voice] == ["A"]
    assert len(one.windows) == 10  # of 19: every other one and the last
    assert [t.speaker for t in two_voices] == ["A", "B"]
    assert two_voices[1].start == pytest.approx(5.0, abs=0.5)  # the change found to a window's hop
    assert 10 < len(two.windows) < 19  # the one across the change was embedded too


def test_windows_left_out_still_count_for_their_speaker() -> None:
    # 2.5 s of a voice is 4 windows, 3 of them embedded: a speaker (4 windows or more) in the end.
    embedder = PitchEmbedder()
    diarizer = Diarizer(embedder)
    diarizer.feed(0.0, np.concatenate([tone(0, 6.0), pause(0.5), tone(1, 2.5)]))
    assert embedder.windows[-3:] == [RATE] * 3 and len(embedder.windows) == 6 + 3
    assert {t.speaker for t in diarizer.finish()} == {"A", "B"}
