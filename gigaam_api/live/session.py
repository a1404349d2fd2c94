"""One live session: buffering, VAD turn detection, partials and finals (`events.LiveSession`).

Audio is kept from the start of the current utterance (or, between utterances, the last second, so
the prefix padding is there when speech starts). Silero runs on whole 32-ms frames as they arrive, on a
worker thread, with the second before them as warm-up. While someone speaks, the growing utterance is
transcribed again at the points `live.partials.partial_point` sets (one partial at a time, and less often
as the utterance grows, so partials cost a bounded multiple of real time); when it ends, a final
transcribes the whole utterance in one pass. Finals run in order, one after another.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Protocol

import numpy as np
import numpy.typing as npt

from gigaam_api.audio.rate import SAMPLE_RATE
from gigaam_api.engines.base import EngineOptions
from gigaam_api.live.codecs import InputDecoder
from gigaam_api.live.events import (
    BacklogFullError,
    Committed,
    Failed,
    Final,
    Flushed,
    LiveConfig,
    LiveEvent,
    LiveLimits,
    Partial,
    SpeechStarted,
    SpeechStopped,
)
from gigaam_api.live.partials import partial_point, stable_delta
from gigaam_api.live.recognizer import Recognizer
from gigaam_api.live.turns import Started, Stopped, TurnDetector
from gigaam_api.vad.chunking import FRAME_SAMPLES

Audio = npt.NDArray[np.float32]
log = logging.getLogger(__name__)

IDLE_KEEP_SECONDS = 1.0  # audio kept between utterances: the prefix padding and the VAD's warm-up
VAD_WARMUP_SAMPLES = SAMPLE_RATE  # 1 s settles Silero's state (vad/silero.py: 99.4 % agreement)
# Live VAD runs on its own threads, not asyncio's default executor, where uploads hash files and jobs
# wait for their decoders: live audio must not queue behind them. CPU-bound: no more threads than cores.
_VAD_THREADS = ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="live-vad")
# A frame may carry up to 16 MiB (minutes of audio); decoding that takes most of a second, so a piece
# larger than this (~0.7 s of 24-kHz PCM) is decoded on those threads, not on the event loop.
INLINE_DECODE_BYTES = 32 * 1024


class SpeechDetector(Protocol):
    def probabilities(self, audio: Audio, *, warmup: Audio | None = None) -> Audio: ...


def new_item_id() -> str:
    return f"item_{secrets.token_hex(10)}"


@dataclass(frozen=True, slots=True)
class _Utterance:
    item_id: str
    audio: Audio
    start: int  # sample of the session's audio where it begins


class _Samples:
    """The session's 16 kHz audio from `start` on, held as the pieces it arrived in."""

    def __init__(self) -> None:
        self.start = 0
        self.end = 0
        self._pieces: list[Audio] = []

    def extend(self, samples: Audio) -> None:
        if len(samples):
            self._pieces.append(samples)
            self.end += len(samples)

    def take(self, start: int, end: int) -> Audio:
        whole = np.concatenate(self._pieces) if self._pieces else np.zeros(0, dtype=np.float32)
        self._pieces = [whole] if len(whole) else []
        return whole[max(start, self.start) - self.start : max(end, self.start) - self.start]

    def drop_before(self, position: int) -> None:
        position = min(max(position, self.start), self.end)
        self._pieces = [self.take(position, self.end)] if position < self.end else []
        self.start = position


class Session:
    def __init__(
        self,
        recognizer: Recognizer,
        vad: SpeechDetector,
        config: LiveConfig,
        limits: LiveLimits,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._recognizer = recognizer
        self._clock = clock
        self._first_audio: float | None = None  # when the first audio came (the clock's time)
        self._received = 0  # samples received in all
        self._vad = vad
        self._limits = limits
        self._events: asyncio.Queue[LiveEvent | None] = asyncio.Queue()
        self._samples = _Samples()
        self._vad_done = 0  # samples the VAD has seen (whole frames)
        self._utterance_start: int | None = None  # where the open utterance begins (prefix included)
        self._item: str | None = None
        self._previous: str | None = None
        self._partial: asyncio.Task[None] | None = None
        self._rest: asyncio.TimerHandle | None = None  # no partial starts before it fires
        self._partial_at = 0  # utterance length at the last partial
        self._sent = ""  # the open utterance's text sent as deltas
        self._text = ""  # its last hypothesis
        self._finals: asyncio.Queue[_Utterance | Flushed | None] = asyncio.Queue()
        self._backlog = 0  # samples committed and not yet transcribed
        self._worker = asyncio.ensure_future(self._run_finals())
        self._closed = False
        self._config = config
        self._decoder = InputDecoder(config.input_format, config.sample_rate)
        self._turns = TurnDetector(config.turns) if config.turns is not None else None

    # --- the client's side -------------------------------------------------------------------------

    def configure(self, config: LiveConfig, options: EngineOptions) -> None:
        self._recognizer.options = options
        if (config.input_format, config.sample_rate) != (self._config.input_format, self._config.sample_rate):
            self._decoder = InputDecoder(config.input_format, config.sample_rate)
        if config.turns != self._config.turns:
            if self._turns is not None and self._turns.speaking:
                self._turns.reset()  # the open utterance stays open until the new rule (or a commit) ends it
            self._turns = TurnDetector(config.turns) if config.turns is not None else None
            if self._turns is not None:
                self._turns.skip_to(self._vad_done // FRAME_SAMPLES)
        self._config = config

    async def append(self, data: bytes) -> None:
        if len(data) > INLINE_DECODE_BYTES:
            samples = await asyncio.get_running_loop().run_in_executor(_VAD_THREADS, self._decoder, data)
        else:
            samples = self._decoder(data)
        self._samples.extend(samples)
        if self._turns is None:
            await self._append_manual()
        else:
            await self._append_vad()
        self._maybe_partial()
        self._check_pace(len(samples))

    def _check_pace(self, samples: int) -> None:
        """Audio may run ahead of real time (since the first audio) by LIVE_MAX_BACKLOG_SECONDS at most,
        silence included: the committed backlog alone never grows while the VAD finds no speech, and
        without this a client could make the server scan hours of silence at full speed. Checked after the
        audio is taken, as the backlog is: nothing sent is lost."""
        now = self._clock()
        if self._first_audio is None:
            self._first_audio = now
        self._received += samples
        ahead = self._received / SAMPLE_RATE - (now - self._first_audio)
        if ahead > self._limits.max_backlog_seconds:
            raise BacklogFullError(
                f"the audio runs {ahead:.1f} s ahead of real time, more than "
                f"{self._limits.max_backlog_seconds:g} s: send audio no faster than real time"
            )

    async def commit(self) -> str | None:
        if self._utterance_start is None or self._samples.end <= self._utterance_start:
            return None
        item = self._item
        await self._close_utterance(self._samples.end, stopped=False)
        if self._turns is not None:
            self._turns.reset()
        return item

    async def flush(self) -> None:
        item = await self.commit()
        self._finals.put_nowait(Flushed(empty=item is None))

    def clear(self) -> None:
        self._cancel_partial()
        self._item = None
        self._utterance_start = None
        self._sent = self._text = ""
        self._partial_at = 0
        if self._turns is not None:
            self._turns.reset()
            self._samples.drop_before(self._samples.end - int(IDLE_KEEP_SECONDS * SAMPLE_RATE))
        else:
            self._samples.drop_before(self._samples.end)

    async def finish(self) -> None:
        if self._closed:
            return
        if self._utterance_start is not None and self._samples.end > self._utterance_start:
            with contextlib.suppress(BacklogFullError):  # queued all the same: it is the last one
                await self._close_utterance(self._samples.end, stopped=self._turns is not None)
        self._cancel_partial()
        self._finals.put_nowait(None)
        await asyncio.shield(self._worker)
        self._end()

    async def aclose(self) -> None:
        self._cancel_partial()
        self._worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._worker
        self._recognizer.close()
        self._end()

    async def events(self) -> AsyncIterator[LiveEvent]:
        while (event := await self._events.get()) is not None:
            yield event

    # --- segmentation ------------------------------------------------------------------------------

    async def _append_manual(self) -> None:
        if self._utterance_start is None and self._samples.end > self._samples.start:
            self._open(self._samples.start)
        self._vad_done = self._samples.end // FRAME_SAMPLES * FRAME_SAMPLES  # where a VAD would go on
        await self._limit_length()

    async def _append_vad(self) -> None:
        assert self._turns is not None
        end = self._samples.end // FRAME_SAMPLES * FRAME_SAMPLES
        if end > self._vad_done:
            audio = self._samples.take(self._vad_done, end)
            warmup = self._samples.take(self._vad_done - VAD_WARMUP_SAMPLES, self._vad_done)
            loop = asyncio.get_running_loop()
            detect = partial(self._vad.probabilities, audio, warmup=warmup)
            probabilities = await loop.run_in_executor(_VAD_THREADS, detect)
            first_frame = self._vad_done // FRAME_SAMPLES
            self._vad_done = end
            for offset, turn in self._turns_of(first_frame, probabilities.tolist()):
                if isinstance(turn, Started):
                    prefix = self._config.turns.prefix_ms if self._config.turns else 0
                    start = max(
                        self._samples.start, turn.frame * FRAME_SAMPLES - prefix * SAMPLE_RATE // 1000
                    )
                    if self._utterance_start is None:  # else: a manual buffer open when the VAD came on
                        self._open(start)
                    opened = self._utterance_start if self._utterance_start is not None else start
                    self._emit(SpeechStarted(self._current_item(), opened * 1000 // SAMPLE_RATE))
                elif isinstance(turn, Stopped) and self._utterance_start is not None:
                    await self._close_utterance(offset, stopped=True)
                await self._limit_length()
        if self._utterance_start is None:
            self._samples.drop_before(self._samples.end - int(IDLE_KEEP_SECONDS * SAMPLE_RATE))
        await self._limit_length()

    def _turns_of(self, first_frame: int, probabilities: list[float]) -> list[tuple[int, Started | Stopped]]:
        """Each turn with the sample where it is decided (the end of the frame that decided it)."""
        assert self._turns is not None
        decided: list[tuple[int, Started | Stopped]] = []
        for index, p in enumerate(probabilities):
            for turn in self._turns.push([p]):
                decided.append(((first_frame + index + 1) * FRAME_SAMPLES, turn))
        return decided

    async def _limit_length(self) -> None:
        """An utterance that reaches LIVE_MAX_UTTERANCE_SECONDS is committed; speech goes on in a new one."""
        limit = int(self._limits.max_utterance_seconds * SAMPLE_RATE)
        while self._utterance_start is not None and self._samples.end - self._utterance_start >= limit:
            cut = self._utterance_start + limit
            speaking = self._turns is not None and self._turns.speaking
            await self._close_utterance(cut, stopped=speaking)
            if speaking or (self._turns is None and self._samples.end > cut):
                self._open(cut)
                if speaking:
                    self._emit(SpeechStarted(self._current_item(), cut * 1000 // SAMPLE_RATE))

    def _open(self, start: int) -> None:
        self._utterance_start = start
        self._samples.drop_before(start)
        self._current_item()
        self._partial_at = 0
        self._sent = self._text = ""

    def _current_item(self) -> str:
        if self._item is None:
            self._item = new_item_id()
        return self._item

    async def _close_utterance(self, end: int, *, stopped: bool) -> None:
        assert self._utterance_start is not None
        item = self._current_item()
        start = self._utterance_start
        audio = self._samples.take(start, end)
        self._cancel_partial()
        if stopped:
            self._emit(SpeechStopped(item, end * 1000 // SAMPLE_RATE))
        self._emit(Committed(item, self._previous, len(audio) / SAMPLE_RATE))
        self._backlog += len(audio)
        self._finals.put_nowait(_Utterance(item, audio, start))
        self._previous, self._item, self._utterance_start = item, None, None
        self._sent = self._text = ""
        self._samples.drop_before(end)
        # Checked after queuing: this utterance is still transcribed (the backlog's overshoot is at most
        # one utterance), then the endpoint refuses more audio.
        if self._backlog > self._limits.max_backlog_seconds * SAMPLE_RATE:
            raise BacklogFullError(
                f"more than {self._limits.max_backlog_seconds:g} s of audio wait for transcription: "
                "send audio no faster than real time"
            )

    # --- transcription -----------------------------------------------------------------------------

    def _maybe_partial(self) -> None:
        start = self._utterance_start
        if start is None or self._item is None or (self._partial is not None and not self._partial.done()):
            return
        if self._rest is not None and not self._rest.cancelled() and self._rest.when() > self._loop_time():
            return  # resting after the last partial: the timer comes back here
        step = int(self._limits.partial_seconds * SAMPLE_RATE)
        point = partial_point(self._samples.end - start, self._partial_at, step)
        if point is None:
            return
        self._partial_at = point
        audio = self._samples.take(start, start + point)
        self._partial = asyncio.ensure_future(self._run_partial(self._item, audio))

    async def _run_partial(self, item: str, audio: Audio) -> None:
        began = time.monotonic()
        try:
            text = await self._recognizer.transcribe(audio)
        except Exception:
            log.exception("a live partial failed")  # the final says what the utterance was
            return
        if item != self._item:
            return  # committed meanwhile: the final has it all
        if text != self._text:
            self._text = text
            delta = stable_delta(self._sent, text)
            self._sent += delta
            self._emit(Partial(item, delta, text))
        # Audio that came while this one ran gets its partial too, not only at the next append (a client
        # that pauses its sending still sees text for all it sent), but after a rest as long as this one
        # took: partials then hold the lane at most half the time, and a final seldom waits behind one.
        self._partial = None
        self._rest = asyncio.get_running_loop().call_later(time.monotonic() - began, self._maybe_partial)

    @staticmethod
    def _loop_time() -> float:
        return asyncio.get_running_loop().time()

    def _cancel_partial(self) -> None:
        if self._rest is not None:
            self._rest.cancel()
            self._rest = None
        if self._partial is not None:
            self._partial.cancel()
            self._partial = None

    async def _run_finals(self) -> None:
        while (utterance := await self._finals.get()) is not None:
            if isinstance(utterance, Flushed):
                self._emit(utterance)
                continue
            seconds = len(utterance.audio) / SAMPLE_RATE
            try:
                text = await self._recognizer.transcribe(utterance.audio)
            except Exception as exc:
                log.exception("a live final failed")
                self._emit(Failed(utterance.item_id, f"transcription failed: {type(exc).__name__}"))
            else:
                self._emit(Final(utterance.item_id, text, seconds, utterance.start / SAMPLE_RATE))
            finally:
                self._backlog -= len(utterance.audio)

    def _emit(self, event: LiveEvent) -> None:
        if not self._closed:
            self._events.put_nowait(event)

    def _end(self) -> None:
        if not self._closed:
            self._closed = True
            self._events.put_nowait(None)
