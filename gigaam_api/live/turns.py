"""Server VAD turn detection: where utterances start and stop in a stream of per-frame speech
probabilities (Silero's, one per 32-ms frame). Pure: no audio, no clock, just frame counts."""

from __future__ import annotations

import math
from dataclasses import dataclass

from gigaam_api.live.events import TurnDetection
from gigaam_api.vad.chunking import FRAME_SECONDS

NEG_THRESHOLD_GAP = 0.15  # speech continues down to threshold - 0.15, as in Silero's own rule
MIN_SPEECH_MS = 100  # a blip shorter than this (a click, a cough's onset) starts no utterance


@dataclass(frozen=True, slots=True)
class Started:
    frame: int  # the first speech frame


@dataclass(frozen=True, slots=True)
class Stopped:
    frame: int  # the frame after the last speech frame


Turn = Started | Stopped


class TurnDetector:
    """Feed probabilities in any pieces; the turns come out the same. An utterance starts once
    MIN_SPEECH_MS of frames at or above `threshold` follow each other, and stops after `silence_ms` of
    frames below threshold - 0.15."""

    def __init__(self, settings: TurnDetection) -> None:
        self._threshold = settings.threshold
        self._neg = max(0.01, settings.threshold - NEG_THRESHOLD_GAP)
        self._min_speech = max(1, math.ceil(MIN_SPEECH_MS / 1000 / FRAME_SECONDS))
        self._min_silence = max(1, math.ceil(settings.silence_ms / 1000 / FRAME_SECONDS))
        self._frame = 0
        self._speaking = False
        self._run_start: int | None = None  # candidate start: loud frames in a row, not yet enough
        self._quiet_since: int | None = None

    @property
    def speaking(self) -> bool:
        return self._speaking

    def skip_to(self, frame: int) -> None:
        """Go on counting at `frame` (a detector made mid-session, for the audio from there on)."""
        self._frame = frame

    def reset(self) -> None:
        """Forget a started utterance (the client committed or cleared it); counting frames goes on."""
        self._speaking = False
        self._run_start = self._quiet_since = None

    def push(self, probabilities: list[float]) -> list[Turn]:
        turns: list[Turn] = []
        for p in probabilities:
            frame = self._frame
            self._frame += 1
            if not self._speaking:
                if p < self._threshold:
                    self._run_start = None
                    continue
                if self._run_start is None:
                    self._run_start = frame
                if frame - self._run_start + 1 >= self._min_speech:
                    self._speaking = True
                    self._quiet_since = None
                    turns.append(Started(self._run_start))
                    self._run_start = None
            elif p < self._neg:
                if self._quiet_since is None:
                    self._quiet_since = frame
                if frame - self._quiet_since + 1 >= self._min_silence:
                    self._speaking = False
                    turns.append(Stopped(self._quiet_since))
                    self._quiet_since = None
            else:
                self._quiet_since = None
        return turns
