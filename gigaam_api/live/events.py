"""What a live session is told and what it reports: plain data, no inference imports, so the WebSocket
endpoints (`api/realtime.py`, `api/ws_transcribe.py`) can depend on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Literal, Protocol

from gigaam_api.engines.base import EngineOptions

InputFormat = Literal["pcm16", "pcmu", "pcma"]  # PCM 16-bit LE mono; G.711 μ-law and A-law (8 kHz)


@dataclass(frozen=True, slots=True)
class TurnDetection:
    """`server_vad`: an utterance starts at a probability >= `threshold` and ends after `silence_ms` below
    it; `prefix_ms` of audio before the start belongs to it (OpenAI's defaults)."""

    threshold: float = 0.5
    silence_ms: int = 500
    prefix_ms: int = 300


@dataclass(frozen=True, slots=True)
class LiveConfig:
    """One session's audio and turn settings; `turns` None: the client commits (`turn_detection: null`)."""

    input_format: InputFormat = "pcm16"
    sample_rate: int = 24_000
    turns: TurnDetection | None = field(default_factory=TurnDetection)


@dataclass(frozen=True, slots=True)
class LiveLimits:
    """The server's limits for every session (LIVE_* settings)."""

    max_utterance_seconds: float = 20.0
    max_backlog_seconds: float = 60.0
    partial_seconds: float = 0.5


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    item_id: str
    audio_ms: int  # from the start of the session's audio, prefix padding included


@dataclass(frozen=True, slots=True)
class SpeechStopped:
    item_id: str
    audio_ms: int


@dataclass(frozen=True, slots=True)
class Committed:
    """An utterance is closed (a pause, a client commit, the length limit or the end of the session) and
    queued for its final transcription."""

    item_id: str
    previous_item_id: str | None
    seconds: float


@dataclass(frozen=True, slots=True)
class Partial:
    """New text of the utterance still being spoken: `delta` extends the text sent so far (never revises
    it); `text` is the whole current hypothesis, which a later one may revise."""

    item_id: str
    delta: str
    text: str


@dataclass(frozen=True, slots=True)
class Final:
    """The utterance's text, transcribed from all of its audio in one pass (as a file upload would be)."""

    item_id: str
    text: str
    seconds: float
    start_seconds: float  # where the utterance begins in the session's audio


@dataclass(frozen=True, slots=True)
class Failed:
    item_id: str
    message: str


@dataclass(frozen=True, slots=True)
class Flushed:
    """Every utterance committed before a `flush()` has its final; `empty`: the flush found no audio."""

    empty: bool


LiveEvent = SpeechStarted | SpeechStopped | Committed | Partial | Final | Failed | Flushed


class BacklogFullError(Exception):
    """The client sends audio faster than the server transcribes it, or than real time
    (LIVE_MAX_BACKLOG_SECONDS either way)."""


class LiveSession(Protocol):
    """One live socket's audio and results; the endpoint feeds it and forwards `events()`."""

    def configure(self, config: LiveConfig, options: EngineOptions) -> None:
        """Take new settings from the next audio on (the audio buffered so far stays)."""
        ...

    async def append(self, data: bytes) -> None:
        """Audio in the session's format (a PCM16 sample split between two appends is joined); raises
        BacklogFullError when too much audio waits for transcription, or the audio (silence too) runs
        that far ahead of real time."""
        ...

    async def commit(self) -> str | None:
        """Close the buffered audio as an utterance now; its item id, or None when the buffer is empty."""
        ...

    async def flush(self) -> None:
        """Commit, then report `Flushed` once every final before it has been reported."""
        ...

    def clear(self) -> None:
        """Drop the buffered audio that is not committed."""
        ...

    async def finish(self) -> None:
        """Commit what is buffered, wait for every final; `events()` then ends."""
        ...

    async def aclose(self) -> None:
        """Stop everything and give the inference lane back (after `finish`, or instead of it)."""
        ...

    def events(self) -> AsyncIterator[LiveEvent]: ...
