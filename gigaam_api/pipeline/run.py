"""One transcription, from upload to segments, each yielded as soon as it is ready.

A decoder thread turns the upload into a 16 kHz PCM spool on disk. Audio that fits in one direct
inference (the engine's chunk policy: pipeline/chunk_plan.py) is one job, interactive when shorter
than DIRECT_MAX_SECONDS; longer audio goes through the VAD thread, whose chunks are batched and run
on the shared scheduler while decoding and VAD carry on.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import os
import threading
import time
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Protocol

from gigaam_api.audio.decode import (
    AudioDecodeError,
    AudioTooLongError,
    PcmBudget,
    SilenceLimit,
    decode_all,
    decode_to_pcm,
)
from gigaam_api.audio.pcm import PcmSpool
from gigaam_api.audio.rate import SAMPLE_RATE
from gigaam_api.audio.spool import RequestFiles
from gigaam_api.config import Settings
from gigaam_api.engines.base import (
    ASREngine,
    ChunkResult,
    EngineOptions,
    RuntimeSelectionError,
    ServerVAD,
    WeightsUnavailableError,
)
from gigaam_api.errors import APIError, bad_request, disk_full, is_disk_full
from gigaam_api.numbers.digits import russian_digits, with_digits
from gigaam_api.pipeline.batching import batch_length
from gigaam_api.pipeline.chunk_plan import chunking_settings, direct_max_seconds
from gigaam_api.pipeline.feed import ThreadFeed
from gigaam_api.pipeline.protocol import Progress, Resume, RunEvent, SpeakerTurns
from gigaam_api.pipeline.scheduler import InferenceScheduler, Ticket
from gigaam_api.pipeline.speech import SpeechDetector, speech_chunks
from gigaam_api.speakers.base import SpeakerEmbedder
from gigaam_api.speakers.diarizer import Diarizer
from gigaam_api.speakers.options import REFERENCE_MAX_SECONDS, DiarizationOptions
from gigaam_api.speakers.turns import Turn, attribute
from gigaam_api.transcript import Segment, build_segment
from gigaam_api.vad.chunking import Chunk, ChunkingSettings, server_vad_settings

MAX_BATCHES_IN_FLIGHT = 2  # one running, one queued: the executor never idles on our account
# Chunks the VAD may find beyond those already sent to inference: enough for the next batches, so the
# executor never waits on it, and no more, so its work does not pile up against the first batches.
VAD_AHEAD_CHUNKS = 4

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RunParts:
    """What every run shares: settings, the engine, the speech detector and the scheduler."""

    settings: Settings
    engine: ASREngine
    vad: SpeechDetector
    scheduler: InferenceScheduler
    on_finished: Callable[[float, float], None] | None = None  # (audio seconds, wall seconds) per run
    speakers: Callable[[], SpeakerEmbedder] | None = None  # the speaker model, loaded on first use

    def __post_init__(self) -> None:
        self.chunking()  # settings the engine's chunks make unusable fail at start-up

    @property
    def direct_max_samples(self) -> int:
        return int(direct_max_seconds(self.settings, self.engine.capabilities.chunks) * SAMPLE_RATE)

    def chunking(self, vad: ServerVAD | None = None) -> ChunkingSettings:
        """The server's chunking for the engine's chunk policy, or a request's `server_vad` over it."""
        settings = chunking_settings(self.settings, self.engine.capabilities.chunks)
        return settings if vad is None else server_vad_settings(settings, vad)


class PipelineRun:
    """One transcription in progress. `begin()` once, iterate `events()` once; always `aclose()`."""

    def __init__(
        self,
        parts: RunParts,
        upload: Path,
        files: RequestFiles,
        options: EngineOptions,
        resume: Resume | None = None,
        *,
        diarization: DiarizationOptions | None = None,
        channel: int | None = None,
    ) -> None:
        self._parts = parts
        self._channel = channel  # one channel of a stereo upload (`pipeline/channels.py`), else the mix
        self._diarization = diarization
        self._diarizer: Diarizer | None = None
        self._resume = resume
        self._upload = upload
        self._options = options
        self._pcm = PcmSpool(files.new(".pcm"))
        self._files = files
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._ticket: Ticket | None = None
        self._direct = False
        self._language: str | None = options.language
        self._began = time.monotonic()

    @property
    def duration(self) -> float | None:
        total = self._pcm.total
        return None if total is None else total / SAMPLE_RATE

    @property
    def language(self) -> str | None:
        return self._language

    async def begin(self) -> None:
        """Start decoding; return once the audio is known to be usable (else raise a 400 APIError)."""
        decoder = self._spawn(self._decode, "decode")
        if self._diarization is not None:
            self._diarizer = await asyncio.to_thread(self._prepare_diarizer, self._diarization)
        available = await asyncio.to_thread(self._pcm.wait_for, self._parts.direct_max_samples + 1)
        self._raise_decode_error()
        # Decided by the samples seen, not by `finished`: a long file whose decoding ends just after the
        # wait returned would otherwise go to the model whole, as one chunk past its longest.
        # A request's server_vad asks for chunks cut at its pauses, however short the audio.
        self._direct = available <= self._parts.direct_max_samples and self._options.server_vad is None
        if not self._direct:
            # Only long audio: a short request's decoding, lowered, waited behind every running batch.
            yield_to_inference(decoder)
        # Short audio goes ahead of long runs; audio an engine takes whole up to minutes is not short.
        short = available <= self._parts.settings.DIRECT_MAX_SECONDS * SAMPLE_RATE
        self._ticket = self._parts.scheduler.open_ticket(interactive=short and self._resume is None)

    def _prepare_diarizer(self, options: DiarizationOptions) -> Diarizer:
        """The run's diarizer with its known speakers enrolled (their clips decoded here); a 400 for a
        clip that does not decode or is not 2-10 s long, a 503 when the speaker model is missing."""
        if self._parts.speakers is None:
            raise bad_request("This server does not diarize.", param="diarize")
        try:
            embedder = self._parts.speakers()
        except Exception as exc:  # missing weights, or a model directory that does not load: one 503
            if isinstance(exc, (WeightsUnavailableError, RuntimeSelectionError)):  # the operator's message
                log.error("%s", exc)
            else:
                log.exception("the speaker model did not load")
            raise APIError(
                503,
                "Speaker diarization is unavailable: the speaker model is not on this server.",
                type="server_error",
                code="speaker_model_unavailable",
            ) from None
        diarizer = Diarizer(embedder, options)
        for known in options.known_speakers:
            try:
                clip = decode_all(known.reference, max_seconds=REFERENCE_MAX_SECONDS + 1)
                diarizer.enroll(known.name, clip)
            except AudioTooLongError:
                raise bad_request(
                    f"known speaker {known.name!r}: the reference clip is longer than "
                    f"{REFERENCE_MAX_SECONDS:g} s; it must be 2-{REFERENCE_MAX_SECONDS:g} s of their voice",
                    param="known_speaker_references",
                ) from None
            except (AudioDecodeError, ValueError) as exc:
                raise bad_request(
                    f"known speaker {known.name!r}: {exc}", param="known_speaker_references"
                ) from None
        return diarizer

    def _decode(self) -> None:
        # Every failure is recorded in the spool (decode_to_pcm finishes it with the error); the consumer
        # turns it into a 400, a 503 or an SSE error and logs what is unexpected, once.
        s = self._parts.settings
        silence = SilenceLimit(s.MAX_LEADING_SILENCE_SECONDS) if s.MAX_LEADING_SILENCE_SECONDS else None
        with contextlib.suppress(Exception):
            decode_to_pcm(
                self._upload,
                self._pcm,
                max_seconds=s.MAX_AUDIO_SECONDS,
                budget=PcmBudget(s.MAX_DECODE_RATIO, s.decode_floor_bytes),
                charge=self._files.charge,
                expect=self._files.expect,
                should_stop=self._stop.is_set,
                silence=silence,
                channel=self._channel,
            )

    def _raise_decode_error(self) -> None:
        error = self._pcm.error
        if isinstance(error, AudioDecodeError):
            raise bad_request(str(error), param="file") from None
        if error is not None and is_disk_full(error):
            raise disk_full() from None
        if error is not None:
            raise error

    def _spawn(self, target: Callable[[], None], name: str) -> threading.Thread:
        context = contextvars.copy_context()  # the thread's log lines keep the request id
        thread = threading.Thread(target=context.run, args=(target,), name=name, daemon=True)
        self._threads.append(thread)
        thread.start()
        return thread

    async def events(self) -> AsyncGenerator[RunEvent, None]:
        assert self._ticket is not None, "begin() first"
        done = round((self._resume.done_seconds if self._resume else 0.0) * SAMPLE_RATE)
        batches: _Batches
        if self._direct:
            batches = _DirectBatches(self._pcm.total or 0, done)
        else:
            chunking = self._parts.chunking(self._options.server_vad)
            chunks = partial(speech_chunks, self._pcm, self._parts.vad, chunking, self._stop)
            feed: ThreadFeed[Chunk] = ThreadFeed(
                partial(_after, chunks, done),
                "vad",
                max_ahead=VAD_AHEAD_CHUNKS,
                stop=self._stop,
            )
            self._threads.append(feed.thread)
            limit = int(self._parts.settings.BATCH_SECONDS * SAMPLE_RATE)
            batches = _SpeechBatches(feed, limit, self._raise_decode_error, first=done == 0)
            # The length, before the first batch: an hour of audio takes a while to decode at low priority.
            yield self._progress(done / SAMPLE_RATE)
        async for event in self._transcribe(batches):
            yield event
        if self._diarizer is not None:  # every batch has run: nothing feeds it any more
            yield SpeakerTurns(tuple(self._diarizer.finish()))
        if self._parts.on_finished is not None:
            self._parts.on_finished(self.duration or 0.0, time.monotonic() - self._began)

    async def _transcribe(self, batches: _Batches) -> AsyncIterator[RunEvent]:
        """Keep up to MAX_BATCHES_IN_FLIGHT batches on the scheduler; yield results in order."""
        inflight: deque[tuple[list[Chunk], asyncio.Future[_BatchResult]]] = deque()
        seg_id = self._resume.next_segment_id if self._resume else 0
        try:
            while True:
                # With results due, take only batches that need no waiting on the VAD.
                while len(inflight) < MAX_BATCHES_IN_FLIGHT and (not inflight or batches.available()):
                    batch = await batches.next()
                    if batch is None:
                        break
                    inflight.append((batch, self._infer(batch)))
                if not inflight:
                    return
                batch, future = inflight.popleft()
                results, turns = await future
                results = await self._written(results)
                segments = [
                    self._segment(0, chunk, result) for chunk, result in zip(batch, results, strict=True)
                ]
                segments = [s for s in segments if s.text]
                # Ids in order; with a diarizer each segment is split where its online speaker changes.
                for segment in (
                    attribute(segments, turns, first_id=seg_id)
                    if turns is not None
                    else [replace(s, id=seg_id + i) for i, s in enumerate(segments)]
                ):
                    seg_id += 1
                    yield segment
                yield self._progress(batch[-1].end / SAMPLE_RATE)
        finally:
            for _, future in inflight:
                future.cancel()

    async def _written(self, results: list[ChunkResult]) -> list[ChunkResult]:
        """The batch's results as the request asks numbers written (a thread: a grammar, not the loop)."""
        if self._options.numbers == "words":
            return results
        return await asyncio.to_thread(lambda: [with_digits(r, russian_digits()) for r in results])

    def _progress(self, processed_seconds: float) -> Progress:
        duration = self.duration
        estimate = self._pcm.declared_seconds if duration is None else None
        return Progress(processed_seconds, duration, estimate)

    def _infer(self, chunks: Sequence[Chunk]) -> asyncio.Future[_BatchResult]:
        assert self._ticket is not None
        work = partial(self._run_batch, chunks)
        future: Future[_BatchResult] = self._parts.scheduler.submit(self._ticket, work)
        return asyncio.wrap_future(future)

    def _run_batch(self, chunks: Sequence[Chunk]) -> _BatchResult:
        """Runs on the inference thread: read just this batch's audio from the spool, then infer (and
        diarize: the speaker model shares the scheduler's CPU budget with the ASR model)."""
        audio = [self._pcm.read(c.start, c.end) for c in chunks]
        results = self._parts.engine.transcribe_batch(audio, self._options)
        if self._diarizer is None:
            return results, None
        turns = [
            t
            for c, a in zip(chunks, audio, strict=True)
            for t in self._diarizer.feed(c.start / SAMPLE_RATE, a)
        ]
        return results, turns

    def _segment(self, seg_id: int, chunk: Chunk, result: ChunkResult) -> Segment:
        if result.language:
            self._language = result.language
        return build_segment(
            seg_id,
            result.text,
            start=chunk.start / SAMPLE_RATE,
            end=min(chunk.end, self._pcm.available) / SAMPLE_RATE,  # the last chunk ends frame-aligned
            words=result.words,
            tokens=result.tokens,
        )

    async def aclose(self) -> None:
        """Cancel whatever is still running and wait for this run's threads to let go of its files."""
        self._stop.set()
        if self._ticket is not None:
            self._parts.scheduler.close_ticket(self._ticket)
        threads, self._threads = self._threads, []
        for thread in threads:
            await asyncio.to_thread(thread.join)
        self._pcm.close()


DECODE_NICENESS = 10


def yield_to_inference(thread: threading.Thread | None = None) -> None:
    """Lower a long run's thread's CPU priority (Linux: per thread; default: this one): decoding an hour
    of audio takes seconds of CPU that would otherwise slow the first inference batches; lowered, it runs
    when they leave room, and the VAD and the model still get its output in time (they wait for it when
    they catch up)."""
    native_id = threading.get_native_id() if thread is None else thread.native_id
    if native_id is None or (thread is not None and not thread.is_alive()):
        return  # a decoder already done has nothing left to lower
    with contextlib.suppress(AttributeError, OSError):  # no per-thread priority on this platform
        os.setpriority(os.PRIO_PROCESS, native_id, DECODE_NICENESS)


def _after(chunks: Callable[[], Iterator[Chunk]], done: int) -> Iterator[Chunk]:
    """The chunks not already transcribed by an earlier run of the job (`done` samples), found on the
    VAD's thread, which yields to inference as the decoder's does."""
    yield_to_inference()
    return (c for c in chunks() if c.end > done)


_BatchResult = tuple[list[ChunkResult], list[Turn] | None]  # a batch's results and, diarized, its turns


class _Batches(Protocol):
    def available(self) -> bool:
        """Whether `next()` would return without waiting."""
        ...

    async def next(self) -> list[Chunk] | None:
        """The next batch; None when there are no more."""
        ...


class _DirectBatches:
    """The whole (short) audio as one batch of one chunk (none if a resumed job has done it already)."""

    def __init__(self, total_samples: int, done_samples: int = 0) -> None:
        self._batch: list[Chunk] | None = [Chunk(0, total_samples)] if total_samples > done_samples else None

    def available(self) -> bool:
        return True

    async def next(self) -> list[Chunk] | None:
        batch, self._batch = self._batch, None
        return batch


class _SpeechBatches:
    """Consecutive speech chunks from the VAD thread, as many as fit in `limit` samples.

    A batch is formed only once it is decided: the chunk after it is known not to fit, or no chunk
    follows. Batching by what happened to be ready made the text depend on timing (a chunk's result
    shifts with the padding of the batch it runs in): the web page and the API, or a run and its
    retry, could differ in a few characters. The VAD runs ahead of inference, so this rarely waits.
    """

    def __init__(
        self, feed: ThreadFeed[Chunk], limit: int, check_decoding: Callable[[], None], *, first: bool
    ) -> None:
        self._feed = feed
        self._limit = limit
        self._check_decoding = check_decoding
        self._ready: deque[Chunk] = deque()
        self._first = first  # a resumed job's batches continue the first run's, which had its first

    def _take(self, chunks: list[Chunk]) -> None:
        self._ready.extend(chunks)
        self._feed.consumed(len(chunks))  # the VAD may run VAD_AHEAD_CHUNKS beyond what is taken

    def _decided(self) -> bool:
        if self._feed.ended or (self._first and self._ready):
            return True
        return batch_length(self._ready, self._limit) < len(self._ready)

    def available(self) -> bool:
        self._take(self._feed.ready())
        return self._decided()

    async def next(self) -> list[Chunk] | None:
        self._take(self._feed.ready())
        while not self._decided():
            chunk = await self._feed.next()
            if chunk is not None:
                self._take([chunk, *self._feed.ready()])
        if not self._ready:
            self._check_decoding()  # the VAD stops early when decoding fails: report why
            return None
        count = batch_length(self._ready, self._limit, first=self._first)
        self._first = False
        return [self._ready.popleft() for _ in range(count)]
