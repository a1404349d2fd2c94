"""What a request asks of diarization: a speaker count hint, known speakers, per-channel stereo.

Pure Python (the HTTP layer builds these); the reference clips are files the request spooled, decoded
on the worker (see `Diarizer.enroll`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

MAX_KNOWN_SPEAKERS: Final = 4  # OpenAI's limit for known_speaker_names[]
REFERENCE_MIN_SECONDS: Final = 2.0
REFERENCE_MAX_SECONDS: Final = 10.0


@dataclass(frozen=True, slots=True)
class KnownSpeaker:
    """A speaker to label by name, from a 2–10 s clip of their voice alone."""

    name: str
    reference: Path


@dataclass(frozen=True, slots=True)
class DiarizationOptions:
    """`speakers` is an exact count; `min_speakers`/`max_speakers` bound it. Known speakers count too.

    `per_channel`: a stereo call is transcribed channel by channel, each channel one speaker (the
    pipeline's concern: the diarizer then only names the channels); None: so when the recording is
    detected as a stereo call (`audio/stereo_call.py`) and the hints allow two speakers, False: never.
    """

    speakers: int | None = None
    min_speakers: int | None = None
    max_speakers: int | None = None
    known_speakers: tuple[KnownSpeaker, ...] = ()
    per_channel: bool | None = None

    def __post_init__(self) -> None:
        for name in ("speakers", "min_speakers", "max_speakers"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.min_speakers and self.max_speakers and self.min_speakers > self.max_speakers:
            raise ValueError("min_speakers is above max_speakers")
        if self.speakers is not None and (self.min_speakers or self.max_speakers):
            raise ValueError("give either speakers or min_speakers/max_speakers, not both")
        names = [k.name for k in self.known_speakers]
        if len(names) > MAX_KNOWN_SPEAKERS:
            raise ValueError(f"at most {MAX_KNOWN_SPEAKERS} known speakers")
        if any(not n.strip() for n in names) or len(set(names)) != len(names):
            raise ValueError("known speaker names must be non-empty and distinct")
        most = self.speakers or self.max_speakers
        if most is not None and len(names) > most:
            raise ValueError("more known speakers than the speaker count allows")

    def count_bounds(self) -> tuple[int, int | None]:
        """The least and most speakers the result may have (None: no upper bound)."""
        if self.speakers is not None:
            return self.speakers, self.speakers
        return self.min_speakers or 1, self.max_speakers
