"""One run through the pipeline with a fake engine and a fake speech detector (real decoding and spool).

The fake engine names each chunk by its length, so the tests can see exactly which audio reached it;
the fake detector calls a frame speech when it is loud. Cancellation is forced with a permit per batch.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from gigaam_api.audio.pcm import PcmSpool
from gigaam_api.audio.rate import SAMPLE_RATE
from gigaam_api.audio.spool import SpoolDir
from gigaam_api.config import Settings, load_settings
from gigaam_api.engines.base import ChunkPolicy, ChunkResult, EngineOptions
from gigaam_api.errors import APIError
from gigaam_api.pipeline import run as run_module
from gigaam_api.pipeline.feed import ThreadFeed
from gigaam_api.pipeline.protocol import Progress, RunEvent
from gigaam_api.pipeline.run import RunParts, _SpeechBatches
from gigaam_api.pipeline.scheduler import InferenceScheduler, Ticket
from gigaam_api.pipeline.transcriber import PipelineTranscriber
from gigaam_api.transcript import Segment, Word
from gigaam_api.vad.chunking import Chunk
from tests.fixtures.detectors import LoudFrames
from tests.fixtures.engines import capabilities
from tests.fixtures.speech import write_wav
from tests.fixtures.waiting import wait_until

WAIT = 10


class LengthEngine:
    """Answers `n<samples>` for each chunk, with one word spanning it; optionally one permit per batch."""

    def __init__(self, *, permits: threading.Semaphore | None = None) -> None:
        self.permits = permits
        self.batches: list[list[int]] = []
        self.options: list[EngineOptions] = []
        self.capabilities = capabilities(model_id="fake", token_logprobs=False, runtime="none")

    def transcribe_batch(
        self, chunks: Sequence[npt.NDArray[np.float32]], options: EngineOptions
    ) -> list[ChunkResult]:
        if self.permits is not None:
            assert self.permits.acquire(timeout=WAIT)
        self.batches.append([len(c) for c in chunks])
        self.options.append(options)
        results = []
        for chunk in chunks:
            length = len(chunk) / SAMPLE_RATE
            results.append(
                ChunkResult(f"n{len(chunk)}", words=(Word(f"n{len(chunk)}", 0.0, length),), language="ru")
            )
        return results


def tone_and_pauses(path: Path, speech_seconds: Sequence[float], pause: float = 1.0) -> Path:
    """Loud stretches separated by silence; returns the WAV's path."""
    parts = []
    for seconds in speech_seconds:
        t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
        parts.append(0.5 * np.sin(2 * np.pi * 220 * t))
        parts.append(np.zeros(int(pause * SAMPLE_RATE)))
    return write_wav(path, np.concatenate(parts).astype(np.float32))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(_env_file=None, MODELS_DIR=tmp_path / "models", SPOOL_DIR=tmp_path / "spool")


@pytest.fixture
def scheduler() -> Iterator[InferenceScheduler]:
    s = InferenceScheduler()
    yield s
    s.stop()


async def collect(
    transcriber: PipelineTranscriber, upload: Path, spool: SpoolDir, options: EngineOptions
) -> list[RunEvent]:
    with spool.files() as files:
        run = await transcriber.start(upload, files, options)
        try:
            return [event async for event in run.events()]
        finally:
            await run.aclose()


def test_short_audio_is_one_direct_inference(
    settings: Settings, scheduler: InferenceScheduler, tmp_path: Path
) -> None:
    engine = LengthEngine()
    transcriber = PipelineTranscriber(RunParts(settings, engine, LoudFrames(), scheduler))
    upload = tone_and_pauses(tmp_path / "short.wav", [3.0])

    events = asyncio.run(
        collect(transcriber, upload, SpoolDir(tmp_path / "spool"), EngineOptions(language="ru"))
    )

    total = 4 * SAMPLE_RATE
    assert engine.batches == [[total]]
    assert engine.options == [EngineOptions(language="ru")]
    (segment, progress) = events
    assert isinstance(segment, Segment)
    assert (segment.start, segment.end, segment.text) == (0.0, 4.0, f"n{total}")
    assert segment.words == (Word(f"n{total}", 0.0, 4.0),)
    assert progress == Progress(4.0, 4.0)


def test_long_audio_goes_through_speech_chunks_in_order(
    settings: Settings, scheduler: InferenceScheduler, tmp_path: Path
) -> None:
    engine = LengthEngine()
    transcriber = PipelineTranscriber(RunParts(settings, engine, LoudFrames(), scheduler))
    upload = tone_and_pauses(tmp_path / "long.wav", [8.0] * 8)  # 72 s

    events = asyncio.run(collect(transcriber, upload, SpoolDir(tmp_path / "spool"), EngineOptions()))

    segments = [e for e in events if isinstance(e, Segment)]
    progress = [e for e in events if isinstance(e, Progress)]
    assert len(engine.batches) >= 3  # chunks of 15-22 s: several batches
    assert [s.id for s in segments] == list(range(len(segments)))
    assert all(a.end <= b.start for a, b in itertools.pairwise(segments))
    # The first chunk is at most FIRST_CHUNK_SECONDS (10) and a batch of its own, so a stream's first
    # text comes after 8 s of audio were transcribed, not 22; the rest follow the 15-22 s rule.
    assert segments[0].end - segments[0].start <= settings.FIRST_CHUNK_SECONDS
    assert len(engine.batches[0]) == 1
    assert all(15 <= s.end - s.start <= 22.5 for s in segments[1:-1])
    lengths = [n for batch in engine.batches for n in batch]
    assert [s.text for s in segments] == [f"n{n}" for n in lengths]
    # Words arrive chunk-relative and leave shifted to the segment, clipped to its end.
    assert all(s.words[0].start == s.start and s.words[0].end <= s.end for s in segments)
    assert [p.processed_seconds for p in progress] == sorted(p.processed_seconds for p in progress)
    assert progress[-1].total_seconds == 72.0


def test_closing_a_run_stops_its_batches(
    settings: Settings, scheduler: InferenceScheduler, tmp_path: Path
) -> None:
    permits = threading.Semaphore(0)
    engine = LengthEngine(permits=permits)
    transcriber = PipelineTranscriber(RunParts(settings, engine, LoudFrames(), scheduler))
    upload = tone_and_pauses(tmp_path / "long.wav", [8.0] * 12)  # 108 s: at least 5 batches

    async def first_segment_then_close() -> None:
        with SpoolDir(tmp_path / "spool").files() as files:
            run = await transcriber.start(upload, files, EngineOptions())
            events = run.events()
            # The audio's length comes before any batch has run: exact if decoding is done, else the
            # header's estimate.
            length = await anext(events)
            assert isinstance(length, Progress) and length.processed_seconds == 0
            assert (length.total_seconds or length.estimated_total_seconds) == pytest.approx(108, abs=0.1)
            assert engine.batches == []
            permits.release()  # exactly one batch may run
            first = await anext(events)
            assert isinstance(first, Segment)
            await events.aclose()
            await run.aclose()

    asyncio.run(first_segment_then_close())
    for _ in range(10):  # whatever was still queued would now be free to run; it must not
        permits.release()
    done = threading.Event()
    job = scheduler.open_ticket(interactive=False)
    scheduler.submit(job, done.set).result(timeout=WAIT)  # the worker has drained its queue

    assert len(engine.batches) <= 2  # the one released, plus at most the one that was already running


def test_undecodable_upload_is_a_400_before_any_batch(
    settings: Settings, scheduler: InferenceScheduler, tmp_path: Path
) -> None:
    engine = LengthEngine()
    transcriber = PipelineTranscriber(RunParts(settings, engine, LoudFrames(), scheduler))
    upload = tmp_path / "garbage.wav"
    upload.write_bytes(b"RIFF" + bytes(range(256)) * 8)

    with pytest.raises(APIError) as info:
        asyncio.run(collect(transcriber, upload, SpoolDir(tmp_path / "spool"), EngineOptions()))

    assert info.value.status == 400
    assert engine.batches == []
    assert list((tmp_path / "spool").iterdir()) == []


@pytest.mark.parametrize(("speech", "lowered"), [([3.0], []), ([8.0] * 4, ["decode", "vad"])])
def test_only_long_audio_lowers_its_threads_priority(
    *,
    settings: Settings,
    scheduler: InferenceScheduler,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    speech: list[float],
    lowered: list[str],
) -> None:
    """A short request's decoding at a lower priority waited behind every running batch of long jobs
    (a 10-s request during a 1-hour job: 2.2x its latency alone instead of 1.6x)."""
    calls: list[str] = []

    def record(thread: threading.Thread | None = None) -> None:
        calls.append((thread or threading.current_thread()).name)

    monkeypatch.setattr(run_module, "yield_to_inference", record)
    transcriber = PipelineTranscriber(RunParts(settings, LengthEngine(), LoudFrames(), scheduler))
    upload = tone_and_pauses(tmp_path / "a.wav", speech)
    asyncio.run(collect(transcriber, upload, SpoolDir(tmp_path / "spool"), EngineOptions()))
    assert sorted(calls) == lowered


def test_a_batch_waits_until_it_is_decided_not_for_what_happens_to_be_ready() -> None:
    """The VAD is held after the first chunk: a batch formed from what was ready would be that chunk
    alone, and the text would depend on timing (results shift with a batch's padding)."""
    second = threading.Event()
    seconds = 10 * SAMPLE_RATE
    chunks = [Chunk(i * seconds, (i + 1) * seconds) for i in range(3)]

    def produce() -> Iterator[Chunk]:
        yield chunks[0]
        assert second.wait(WAIT)
        yield from chunks[1:]

    async def batches() -> list[list[Chunk]]:
        feed: ThreadFeed[Chunk] = ThreadFeed(produce, "vad", max_ahead=4)
        speech = _SpeechBatches(feed, 22 * SAMPLE_RATE, lambda: None, first=False)
        await asyncio.to_thread(wait_until, lambda: speech.available() or bool(speech._ready), "chunk 1")
        assert not speech.available(), "10 s more could still join the batch"
        pending = asyncio.ensure_future(speech.next())
        await asyncio.sleep(0)
        assert not pending.done()
        second.set()
        first = await pending
        assert first is not None
        out = [first]
        while (batch := await speech.next()) is not None:
            out.append(batch)
        return out

    assert asyncio.run(batches()) == [chunks[:2], chunks[2:]]


def test_long_audio_decoded_before_the_check_still_goes_through_speech_chunks(
    settings: Settings, scheduler: InferenceScheduler, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run's start waits for more samples than a direct inference takes; when decoding had finished
    by the time it looked, a long file was taken for a short one and sent to the model whole."""
    wait_for = PcmSpool.wait_for

    def until_decoded(spool: PcmSpool, n_samples: int, timeout: float | None = None) -> int:
        return wait_for(spool, 1 << 62, timeout)  # returns once the writer has finished: the whole file

    monkeypatch.setattr(PcmSpool, "wait_for", until_decoded)
    engine = LengthEngine()
    transcriber = PipelineTranscriber(RunParts(settings, engine, LoudFrames(), scheduler))
    upload = tone_and_pauses(tmp_path / "long.wav", [8.0] * 8)  # 72 s

    asyncio.run(collect(transcriber, upload, SpoolDir(tmp_path / "spool"), EngineOptions()))

    longest = engine.capabilities.chunks.longest_seconds * SAMPLE_RATE
    assert len(engine.batches) >= 3
    assert max(n for batch in engine.batches for n in batch) <= longest


def test_an_engine_that_takes_long_audio_whole_gets_it_in_one_pass(
    settings: Settings, scheduler: InferenceScheduler, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine's chunk policy, not GigaAM's 25-s rule: 72 s go in whole to an engine taking 120 s;
    as a long run, not ahead of short requests."""
    opened: list[bool] = []
    open_ticket = scheduler.open_ticket

    def recorded(*, interactive: bool) -> Ticket:
        opened.append(interactive)
        return open_ticket(interactive=interactive)

    monkeypatch.setattr(scheduler, "open_ticket", recorded)
    engine = LengthEngine()
    engine.capabilities = capabilities(
        model_id="long-context", chunks=ChunkPolicy(120.0, preferred_seconds=60.0, whole=True)
    )
    transcriber = PipelineTranscriber(RunParts(settings, engine, LoudFrames(), scheduler))
    upload = tone_and_pauses(tmp_path / "long.wav", [8.0] * 8)  # 72 s

    asyncio.run(collect(transcriber, upload, SpoolDir(tmp_path / "spool"), EngineOptions()))

    assert engine.batches == [[72 * SAMPLE_RATE]]
    assert opened == [False]
