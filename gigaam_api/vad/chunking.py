"""From speech probabilities to ASR chunks: pure logic, no I/O.

Internally every position is a VAD frame index (1 frame = 512 samples = 32 ms at 16 kHz); `Chunk`
exposes samples and seconds. The stages, each incremental:

1. `_Hysteresis`: speech starts at p >= threshold and ends after `min_silence` frames of
   p < neg_threshold (Silero's get_speech_timestamps rule); runs shorter than `min_speech` are
   dropped. A run that would not fit in a chunk is cut at its least speech-like frame (lowest
   probability) between min_s and max_s from the piece start, not into blind equal parts.
2. `_Padding`: each interval grows by `speech_pad` into the silence around it, never past the
   middle of the gap to a neighbour.
3. `_Grouping`: GigaAM's long-form rule. Walk the intervals; the open chunk is closed, if longer than
   0.2 s, when the next interval would make it longer than max_s or when it is already longer than
   min_s. A final chunk of 0.2 s or less is dropped.

With `first_max_s`, the first chunk follows the same rule with shorter targets (half of it, all of
it): a stream's first text then waits for a few seconds of audio to be transcribed, not for 22.

`plan_chunks` is the batch form; `IncrementalChunker` gives the same chunks however the probabilities
are split into pushes, keeping only O(longest chunk) of them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace

from gigaam_api.audio.rate import SAMPLE_RATE
from gigaam_api.engines.base import ServerVAD

FRAME_SAMPLES = 512  # 32 ms at 16 kHz: Silero gives one speech probability per frame
FRAME_SECONDS = FRAME_SAMPLES / SAMPLE_RATE
MIN_CHUNK_SECONDS = 0.2  # GigaAM never emits a chunk this short or shorter


@dataclass(frozen=True, slots=True)
class Chunk:
    """A span of audio for the ASR model, `start`/`end` in samples at 16 kHz (end exclusive).

    `end` is frame-aligned, so the last chunk may end up to one frame past the audio: clip it.
    """

    start: int
    end: int


@dataclass(frozen=True, slots=True)
class ChunkingSettings:
    """Every knob of the chunker. Durations round to whole 32-ms frames.

    Defaults: threshold 0.25 (low, so quiet speech is kept; the ASR model tolerates some silence),
    neg_threshold threshold - 0.15 as in Silero, min_speech 250 ms and min_silence 100 ms as in
    Silero, 64 ms of padding so word edges are not clipped, and GigaAM's 15 s / 22 s chunk targets.
    `hard_max_s` is the longest chunk ever emitted: pass min(30, what the model accepts).
    `first_max_s` (None: as the others) is the longest first chunk.
    """

    threshold: float = 0.25
    neg_threshold: float | None = None
    min_speech_ms: float = 250.0
    min_silence_ms: float = 100.0
    speech_pad_ms: float = 64.0
    min_s: float = 15.0
    max_s: float = 22.0
    hard_max_s: float = 30.0
    first_max_s: float | None = None

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError("threshold must be in (0, 1]")
        if self.neg_threshold is not None and not 0.0 <= self.neg_threshold <= self.threshold:
            raise ValueError("neg_threshold must be in [0, threshold]")
        if min(self.min_speech_ms, self.min_silence_ms, self.speech_pad_ms) < 0:
            raise ValueError("min_speech_ms, min_silence_ms and speech_pad_ms must be >= 0")
        if not 0.0 < self.min_s <= self.max_s:
            raise ValueError("need 0 < min_s <= max_s")
        if self.split_window[0] < 1 or self.min_speech > self.run_limit:
            raise ValueError("hard_max_s is too short for the padding and min_speech_ms")
        if self.first_max_s is not None and self.first_max_s <= 0:
            raise ValueError("first_max_s must be > 0")
        self.first()  # a first chunk too short for the padding and min_speech_ms fails here

    def first(self) -> ChunkingSettings:
        """The settings the first chunk is cut with."""
        if self.first_max_s is None or self.first_max_s >= self.max_s:
            return self
        longest = min(self.first_max_s, self.hard_max_s)
        return replace(
            self, min_s=min(self.min_s, longest / 2), max_s=longest, hard_max_s=longest, first_max_s=None
        )

    @property
    def negative_threshold(self) -> float:
        return self.neg_threshold if self.neg_threshold is not None else max(self.threshold - 0.15, 0.01)

    @property
    def min_speech(self) -> int:
        return _frames(self.min_speech_ms / 1000)

    @property
    def min_silence(self) -> int:
        return max(1, _frames(self.min_silence_ms / 1000))

    @property
    def pad(self) -> int:
        return _frames(self.speech_pad_ms / 1000)

    @property
    def tiny(self) -> int:
        """Chunks of this many frames or fewer are 0.2 s or shorter."""
        return math.floor(MIN_CHUNK_SECONDS / FRAME_SECONDS)

    @property
    def run_limit(self) -> int:
        """Longest raw speech piece: padded on both sides it still fits in hard_max_s."""
        return math.floor(self.hard_max_s / FRAME_SECONDS) - 2 * self.pad

    @property
    def split_window(self) -> tuple[int, int]:
        """Where an over-long run is cut, in frames from the piece start (both ends inclusive)."""
        high = min(math.floor(self.max_s / FRAME_SECONDS), self.run_limit - self.tiny - 1)
        return min(math.floor(self.min_s / FRAME_SECONDS), high), high


def _frames(seconds: float) -> int:
    return round(seconds / FRAME_SECONDS)


class _Hysteresis:
    """Stage 1: raw speech intervals [start, end) in frames, over-long runs cut into touching pieces."""

    def __init__(self, settings: ChunkingSettings) -> None:
        self._s = settings.first()  # until the first interval is out
        self._later = settings
        self._neg = settings.negative_threshold
        self.position = 0  # frames seen
        self._start: int | None = None  # start of the current (piece of a) speech run
        self._silence: int | None = None  # first frame of a silence inside the run, not yet long enough
        self._probs: list[float] = []  # probabilities from `_start` on, for choosing cuts
        self._was_cut = False  # the current piece is the tail of a cut run

    @property
    def horizon(self) -> int:
        """No interval still to come can start before this frame."""
        return self._start if self._start is not None else self.position

    def push(self, probs: Iterable[float]) -> list[tuple[int, int]]:
        out: list[tuple[int, int]] = []
        s = self._s
        for p in probs:
            if p >= s.threshold:
                self._silence = None
                if self._start is None:
                    self._start = self.position
            elif self._start is not None and p < self._neg:
                if self._silence is None:
                    self._silence = self.position
                if self.position + 1 - self._silence >= s.min_silence:
                    self._end(self._silence, out)
            if self._start is not None:
                self._probs.append(p)
                extent = self._silence if self._silence is not None else self.position + 1
                self._cut(extent, out)
            self.position += 1
        return out

    def finish(self) -> list[tuple[int, int]]:
        out: list[tuple[int, int]] = []
        if self._start is not None:
            self._end(self._silence if self._silence is not None else self.position, out)
        return out

    def _cut(self, extent: int, out: list[tuple[int, int]]) -> None:
        """Cut pieces off the run while it is certainly longer than a piece may be."""
        low, high = self._s.split_window
        while self._start is not None and extent - self._start > self._s.run_limit:
            window = self._probs[low : high + 1]
            cut = low + min(range(len(window)), key=window.__getitem__)
            self._emit((self._start, self._start + cut), out)
            self._start += cut
            del self._probs[:cut]
            self._was_cut = True

    def _end(self, end: int, out: list[tuple[int, int]]) -> None:
        assert self._start is not None
        self._cut(end, out)
        if end - self._start >= self._s.min_speech or self._was_cut:
            self._emit((self._start, end), out)  # the tail of a cut run is kept whatever its length
        self._start = None
        self._was_cut = False
        self._silence = None
        self._probs.clear()

    def _emit(self, interval: tuple[int, int], out: list[tuple[int, int]]) -> None:
        out.append(interval)
        self._s = self._later


class _Padding:
    """Stage 2: grow each interval by `pad` frames into silence, meeting a close neighbour halfway."""

    def __init__(self, pad: int) -> None:
        self._pad = pad
        self._pending: tuple[int, int] | None = None  # (padded start, raw end): the end waits on the next
        self.pending_end: int | None = None

    def push(self, intervals: list[tuple[int, int]], horizon: int) -> list[tuple[int, int]]:
        out: list[tuple[int, int]] = []
        for start, end in intervals:
            padded_start = max(0, start - self._pad)
            if self._pending is not None:
                gap = start - self._pending[1]
                left = min(self._pad, gap // 2)
                out.append((self._pending[0], self._pending[1] + left))
                padded_start = start - min(self._pad, gap - left)
            self._pending = (padded_start, end)
        if self._pending is not None and horizon >= self._pending[1] + 2 * self._pad:
            out.append((self._pending[0], self._pending[1] + self._pad))
            self._pending = None
        self.pending_end = self._pending[1] if self._pending else None
        return out

    def finish(self, total: int) -> list[tuple[int, int]]:
        if self._pending is None:
            return []
        start, end = self._pending
        self._pending = None
        return [(start, min(total, end + self._pad))]


class _Grouping:
    """Stage 3: GigaAM's rule over padded intervals."""

    def __init__(self, settings: ChunkingSettings) -> None:
        self._tiny = settings.tiny
        self._later = settings
        self._use(settings.first())  # until the first chunk is out
        self._open: tuple[int, int] | None = None

    def _use(self, settings: ChunkingSettings) -> None:
        self._min = math.floor(settings.min_s / FRAME_SECONDS)
        self._hard = math.floor(settings.hard_max_s / FRAME_SECONDS)
        self._max = min(math.floor(settings.max_s / FRAME_SECONDS), self._hard)

    def _close(self, out: list[tuple[int, int]]) -> None:
        assert self._open is not None
        out.append(self._open)
        self._open = None
        self._use(self._later)

    def push(self, intervals: list[tuple[int, int]], next_end_bound: int) -> list[tuple[int, int]]:
        """`next_end_bound`: no interval still to come ends before this frame."""
        out: list[tuple[int, int]] = []
        for start, end in intervals:
            if self._open is not None and self._closes(end):
                self._close(out)
            elif self._open is not None and end - self._open[0] > self._hard:
                self._open = None  # a blip of 0.2 s or less that cannot join: GigaAM drops those too
            self._open = (start, end) if self._open is None else (self._open[0], end)
        if self._open is not None and self._closes(next_end_bound):
            self._close(out)  # whatever comes next will close it: it is final now
        return out

    def finish(self) -> list[tuple[int, int]]:
        last, self._open = self._open, None
        return [last] if last is not None and last[1] - last[0] > self._tiny else []

    def _closes(self, next_end: int) -> bool:
        assert self._open is not None
        start, end = self._open
        return end - start > self._tiny and (next_end - start > self._max or end - start > self._min)


class IncrementalChunker:
    """Chunks from probabilities pushed in any pieces; each chunk is returned once it is final."""

    def __init__(self, settings: ChunkingSettings | None = None) -> None:
        self._settings = settings or ChunkingSettings()
        self._hysteresis = _Hysteresis(self._settings)
        self._padding = _Padding(self._settings.pad)
        self._grouping = _Grouping(self._settings)

    def push(self, probs: Iterable[float]) -> list[Chunk]:
        """Append the next frames' probabilities; return the chunks that no later frame can change."""
        raw = self._hysteresis.push(float(p) for p in probs)
        padded = self._padding.push(raw, self._hysteresis.horizon)
        return _chunks(self._grouping.push(padded, self._next_end_bound()))

    def finish(self) -> list[Chunk]:
        """End of audio: flush everything still open."""
        raw = self._hysteresis.finish()
        padded = self._padding.push(raw, self._hysteresis.horizon)
        padded += self._padding.finish(self._hysteresis.position)
        return _chunks(self._grouping.push(padded, self._next_end_bound()) + self._grouping.finish())

    def _next_end_bound(self) -> int:
        if self._padding.pending_end is not None:
            return self._padding.pending_end
        return self._hysteresis.horizon + 1  # weak but safe: after max_s of silence the chunk is final


def server_vad_settings(base: ChunkingSettings, vad: ServerVAD) -> ChunkingSettings:
    """`chunking_strategy=server_vad` over the server's settings: its knobs replace theirs, and every
    pause of `silence_duration_ms` ends a chunk (no grouping into 15-22 s chunks, no short first chunk),
    the way OpenAI's server VAD ends a turn. Chunks still never exceed `hard_max_s`."""
    threshold = base.threshold if vad.threshold is None else vad.threshold
    return replace(
        base,
        threshold=threshold,
        # The server's negative threshold may sit above a lower request threshold: derive it then.
        neg_threshold=base.neg_threshold if vad.threshold is None else None,
        min_silence_ms=base.min_silence_ms if vad.silence_duration_ms is None else vad.silence_duration_ms,
        speech_pad_ms=base.speech_pad_ms if vad.prefix_padding_ms is None else vad.prefix_padding_ms,
        min_s=MIN_CHUNK_SECONDS,
        max_s=base.hard_max_s,
        first_max_s=None,
    )


def plan_chunks(probs: Iterable[float], settings: ChunkingSettings | None = None) -> list[Chunk]:
    """All chunks of a whole file's probabilities (one per 32-ms frame)."""
    chunker = IncrementalChunker(settings)
    return chunker.push(probs) + chunker.finish()


def _chunks(spans: list[tuple[int, int]]) -> list[Chunk]:
    return [Chunk(start * FRAME_SAMPLES, end * FRAME_SAMPLES) for start, end in spans]
