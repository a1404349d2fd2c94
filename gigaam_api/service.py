"""The transcription service: one upload in, segments out, as soon as each is ready.

Created in the application lifespan (it imports numpy, PyAV and ONNX Runtime through its parts),
so the HTTP layer only sees the `Transcriber` / `Run` interface in `gigaam_api.jobs`.

Path of one request: a decoder thread turns the upload into a 16 kHz PCM spool on disk; audio up to
DIRECT_MAX_SECONDS is one inference; longer audio goes through a VAD thread that reads windows of
the spool as they are decoded and emits final chunks, which are batched and run on the shared
scheduler while VAD and decoding carry on.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import Future
from functools import partial
from pathlib import Path

from gigaam_api.asr.engine import SAMPLE_RATE, ASREngine
from gigaam_api.audio.decode import AudioDecodeError, DecodeCancelledError, PcmBudget, decode_to_pcm
from gigaam_api.audio.pcm import PcmSpool
from gigaam_api.audio.spool import SpoolFullError
from gigaam_api.config import Settings
from gigaam_api.errors import bad_request
from gigaam_api.jobs import Progress, RunEvent
from gigaam_api.longform.chunking import Chunk, ChunkingSettings, IncrementalChunker
from gigaam_api.longform.vad import SileroVad
from gigaam_api.scheduler import InferenceScheduler, Job
from gigaam_api.transcript import ChunkResult, Segment, build_segment

VAD_WINDOW_SECONDS = 120  # decoded audio per VAD pass: longer windows amortise the warm-up (60 s: -30 %)
MAX_BATCHES_IN_FLIGHT = 2  # one running, one queued: the executor never idles on our account
_END = object()


class Transcriber:
    def __init__(self, settings: Settings, engine: ASREngine, vad: SileroVad, scheduler: InferenceScheduler):
        self.settings = settings
        self.engine = engine
        self.vad = vad
        self.scheduler = scheduler

    @property
    def model_id(self) -> str:
        return self.engine.model_id

    @property
    def batches_run(self) -> int:
        return self.scheduler.batches_run

    async def start(
        self, upload: Path, pcm_path: Path, *, charge: Callable[[int], None] | None = None
    ) -> Run:
        """Start decoding; return once the audio is known to be usable (else raise a 400 APIError).

        `charge(n)` is called before n bytes of PCM are written (the spool-wide budget).
        """
        run = Run(self, upload, pcm_path, charge)
        try:
            await run.begin()
        except BaseException:
            await run.aclose()
            raise
        return run


class Run:
    """One transcription in progress. Iterate `events()` once; always `aclose()` (idempotent)."""

    def __init__(
        self, owner: Transcriber, upload: Path, pcm_path: Path, charge: Callable[[int], None] | None
    ) -> None:
        self._owner = owner
        self._charge = charge
        self._settings = owner.settings
        self._upload = upload
        self._pcm = PcmSpool(pcm_path)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._job: Job | None = None
        self._loop = asyncio.get_running_loop()

    @property
    def duration(self) -> float | None:
        total = self._pcm.total
        return None if total is None else total / SAMPLE_RATE

    @property
    def direct(self) -> bool:
        return self._job is not None and self._job.interactive

    async def begin(self) -> None:
        self._spawn(self._decode, "decode")
        direct_samples = int(self._settings.DIRECT_MAX_SECONDS * SAMPLE_RATE)
        await asyncio.to_thread(self._pcm.wait_for, direct_samples + 1)
        self._raise_decode_error()
        direct = self._pcm.finished
        self._job = self._owner.scheduler.open_job(interactive=direct)

    def _decode(self) -> None:
        # A decode error is recorded in the spool; the consumer turns it into a 400 or an SSE error.
        with contextlib.suppress(AudioDecodeError, DecodeCancelledError, SpoolFullError):
            decode_to_pcm(
                self._upload,
                self._pcm,
                max_seconds=self._settings.MAX_AUDIO_SECONDS,
                budget=PcmBudget(self._settings.MAX_DECODE_RATIO, self._settings.decode_floor_bytes),
                charge=self._charge,
                should_stop=self._stop.is_set,
            )

    def _raise_decode_error(self) -> None:
        error = self._pcm.error
        if isinstance(error, AudioDecodeError):
            raise bad_request(str(error), param="file") from None
        if error is not None:
            raise error

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    async def events(self) -> AsyncIterator[RunEvent]:
        if self.direct:
            async for event in self._direct_events():
                yield event
        else:
            async for event in self._long_events():
                yield event

    async def _infer(self, chunks: Sequence[Chunk]) -> list[ChunkResult]:
        assert self._job is not None
        future: Future[list[ChunkResult]] = self._owner.scheduler.submit(
            self._job, partial(self._run_batch, chunks)
        )
        return await asyncio.wrap_future(future)

    def _run_batch(self, chunks: Sequence[Chunk]) -> list[ChunkResult]:
        """Runs on the inference thread: read just this batch's audio from the spool, then infer."""
        audio = [self._pcm.read(c.start, c.end) for c in chunks]
        return self._owner.engine.transcribe_batch(audio)

    def _segment(self, seg_id: int, chunk: Chunk, result: ChunkResult) -> Segment:
        return build_segment(
            seg_id,
            result,
            start=chunk.start / SAMPLE_RATE,
            end=min(chunk.end, self._pcm.available) / SAMPLE_RATE,  # the last chunk ends frame-aligned
            frame=self._owner.engine.frame_seconds,
        )

    async def _direct_events(self) -> AsyncIterator[RunEvent]:
        total = self._pcm.total or 0
        whole = Chunk(0, total)
        (result,) = await self._infer([whole])
        segment = self._segment(0, whole, result)
        if segment.text:
            yield segment
        yield Progress(total / SAMPLE_RATE, total / SAMPLE_RATE)

    async def _long_events(self) -> AsyncIterator[RunEvent]:
        queue: asyncio.Queue[object] = asyncio.Queue()
        self._spawn(partial(self._vad_loop, queue), "vad")
        batches = self._batches(queue)
        inflight: deque[tuple[list[Chunk], asyncio.Task[list[ChunkResult]]]] = deque()
        exhausted = False
        seg_id = 0
        try:
            while True:
                while not exhausted and len(inflight) < MAX_BATCHES_IN_FLIGHT:
                    if inflight and queue.empty():
                        break  # results are due; do not block on VAD for the next batch
                    try:
                        batch = await anext(batches)
                    except StopAsyncIteration:
                        exhausted = True
                        break
                    inflight.append((batch, asyncio.ensure_future(self._infer(batch))))
                if not inflight:
                    return
                batch, task = inflight.popleft()
                for chunk, result in zip(batch, await task, strict=True):
                    segment = self._segment(seg_id, chunk, result)
                    if segment.text:
                        seg_id += 1
                        yield segment
                yield Progress(batch[-1].end / SAMPLE_RATE, self.duration)
        finally:
            for _, task in inflight:
                task.cancel()

    async def _batches(self, queue: asyncio.Queue[object]) -> AsyncIterator[list[Chunk]]:
        """Consecutive chunks, as many as are ready and fit in BATCH_SECONDS (at least one)."""
        limit = self._settings.BATCH_SECONDS * SAMPLE_RATE
        held: Chunk | None = None
        while True:
            first = held if held is not None else await self._next_chunk(queue)
            held = None
            if first is None:
                return
            batch, size = [first], first.end - first.start
            while not queue.empty():
                nxt = await self._next_chunk(queue)
                if nxt is None:
                    yield batch
                    return
                if size + nxt.end - nxt.start > limit:
                    held = nxt
                    break
                batch.append(nxt)
                size += nxt.end - nxt.start
            yield batch

    async def _next_chunk(self, queue: asyncio.Queue[object]) -> Chunk | None:
        item = await queue.get()
        if item is _END:
            self._raise_decode_error()
            return None
        if isinstance(item, BaseException):
            raise item
        assert isinstance(item, Chunk)
        return item

    def _vad_loop(self, queue: asyncio.Queue[object]) -> None:
        """VAD thread: read the spool window by window as it is decoded; emit chunks once final."""

        def emit(item: object) -> None:
            self._loop.call_soon_threadsafe(queue.put_nowait, item)

        s = self._settings
        chunker = IncrementalChunker(
            ChunkingSettings(
                threshold=s.VAD_THRESHOLD,
                neg_threshold=s.VAD_NEG_THRESHOLD,
                min_speech_ms=s.VAD_MIN_SPEECH_MS,
                min_silence_ms=s.VAD_MIN_SILENCE_MS,
                speech_pad_ms=s.VAD_SPEECH_PAD_MS,
                min_s=s.VAD_MIN,
                max_s=s.VAD_MAX,
                hard_max_s=min(s.VAD_HARD_MAX, self._owner.engine.max_chunk_seconds),
            )
        )
        window = VAD_WINDOW_SECONDS * SAMPLE_RATE
        pos = 0
        try:
            while not self._stop.is_set():
                available = self._pcm.wait_for(pos + window, timeout=0.5)
                if self._pcm.error is not None or (self._pcm.finished and available <= pos):
                    break
                if available < pos + window and not self._pcm.finished:
                    continue  # a partial window: wait for more (re-checking for cancellation)
                stop = min(pos + window, available)
                warmup = self._pcm.read(max(0, pos - self._owner.vad.warmup_samples), pos)
                probs = self._owner.vad.probabilities(self._pcm.read(pos, stop), warmup=warmup)
                for chunk in chunker.push(probs):
                    emit(chunk)
                pos = stop
            if not self._stop.is_set() and self._pcm.error is None:
                for chunk in chunker.finish():
                    emit(chunk)
        except BaseException as exc:
            emit(exc)
        emit(_END)

    async def aclose(self) -> None:
        """Cancel whatever is still running and wait for this run's threads to let go of its files."""
        self._stop.set()
        if self._job is not None:
            self._owner.scheduler.close_job(self._job)
        threads, self._threads = self._threads, []
        for thread in threads:
            await asyncio.to_thread(thread.join)
        self._pcm.close()
