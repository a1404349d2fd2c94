"""The live session's segmentation, partials and finals, with a fake VAD (loud frames are speech) and a
fake recognizer (it names the audio it got), so every result is checked exactly. No clock anywhere."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np
import numpy.typing as npt
import pytest

from gigaam_api.engines.base import EngineOptions
from gigaam_api.live import session as session_module
from gigaam_api.live.codecs import InputDecoder
from gigaam_api.live.events import (
    BacklogFullError,
    Committed,
    Final,
    Flushed,
    LiveConfig,
    LiveEvent,
    LiveLimits,
    Partial,
    SpeechStarted,
    SpeechStopped,
    TurnDetection,
)
from gigaam_api.live.session import Session
from gigaam_api.vad.chunking import FRAME_SAMPLES

Audio = npt.NDArray[np.float32]
T = TypeVar("T")
RATE = 16_000
LOUD = 0.5
VAD = TurnDetection(threshold=0.5, silence_ms=300, prefix_ms=96)


class LoudnessVad:
    """Speech probability 1 for a frame with any sample louder than 0.1, else 0."""

    def probabilities(self, audio: Audio, *, warmup: Audio | None = None) -> Audio:
        frames = -(-len(audio) // FRAME_SAMPLES)
        padded = np.zeros(frames * FRAME_SAMPLES, dtype=np.float32)
        padded[: len(audio)] = audio
        loud: Audio = (np.abs(padded.reshape(frames, -1)).max(axis=1) > 0.1).astype(np.float32)
        return loud


class NamingRecognizer:
    """Text = the audio's length in samples and its loud samples; `gate` holds every call until set."""

    def __init__(self) -> None:
        self.options = EngineOptions()
        self.calls: list[int] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.entered = asyncio.Event()
        self.closed = False

    async def transcribe(self, audio: Audio) -> str:
        self.calls.append(len(audio))
        self.entered.set()
        await self.gate.wait()
        loud = int((np.abs(audio) > 0.1).sum())
        return f"n{len(audio)} loud{loud} x"

    def close(self) -> None:
        self.closed = True


def pcm(*parts: tuple[str, float]) -> bytes:
    """16-bit PCM of ("speech"|"silence", seconds) parts; speech is a constant loud level."""
    chunks = [
        np.full(round(s * RATE), LOUD if kind == "speech" else 0.0, dtype=np.float32) for kind, s in parts
    ]
    return (np.concatenate(chunks) * 32767).astype("<i2").tobytes()


def run(coro: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(coro())  # type: ignore[arg-type]


async def drain(session: Session) -> list[LiveEvent]:
    await session.finish()
    events = [event async for event in session.events()]
    await session.aclose()
    return events


async def feed(session: Session, data: bytes, piece: int = 3200) -> None:
    for i in range(0, len(data), piece):
        await session.append(data[i : i + piece])


def make(
    recognizer: NamingRecognizer,
    *,
    turns: TurnDetection | None = VAD,
    clock: Callable[[], float] | None = None,
    **limits: float,
) -> Session:
    config = LiveConfig(input_format="pcm16", sample_rate=RATE, turns=turns)
    live_limits = LiveLimits(**{"partial_seconds": 100.0, **limits})
    if clock is None:
        return Session(recognizer, LoudnessVad(), config, live_limits)
    return Session(recognizer, LoudnessVad(), config, live_limits, clock=clock)


def test_utterances_between_pauses_are_separate_finals_of_their_whole_audio() -> None:
    async def scenario() -> list[LiveEvent]:
        session = make(NamingRecognizer())
        await feed(
            session,
            pcm(("silence", 0.5), ("speech", 1.0), ("silence", 1.0), ("speech", 0.8), ("silence", 1.0)),
        )
        return await drain(session)

    events = run(scenario)
    finals = [e for e in events if isinstance(e, Final)]
    assert len(finals) == 2
    # Each final saw all of its speech (16000 and 12800 loud samples) in one pass, with its padding.
    assert [f.text.split()[1] for f in finals] == ["loud16000", "loud12800"]
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["SpeechStarted", "SpeechStopped", "Committed", "Final"] * 2
    committed = [e for e in events if isinstance(e, Committed)]
    assert committed[0].previous_item_id is None
    assert committed[1].previous_item_id == committed[0].item_id
    started = [e for e in events if isinstance(e, SpeechStarted)]
    first_loud_frame_ms = 8000 // FRAME_SAMPLES * FRAME_SAMPLES * 1000 // RATE  # 480: frames are 32 ms
    assert started[0].audio_ms == first_loud_frame_ms - 96  # with the prefix padding before it
    assert finals[0].start_seconds == pytest.approx((first_loud_frame_ms - 96) / 1000)


def test_manual_mode_commits_only_when_asked() -> None:
    async def scenario() -> tuple[str | None, str | None, list[LiveEvent]]:
        session = make(NamingRecognizer(), turns=None)
        empty = await session.commit()
        await feed(session, pcm(("speech", 0.5), ("silence", 1.0), ("speech", 0.5)))
        item = await session.commit()
        return empty, item, await drain(session)

    empty, item, events = run(scenario)
    assert empty is None
    assert [type(e).__name__ for e in events] == ["Committed", "Final"]
    final = events[1]
    assert isinstance(final, Final)
    assert final.item_id == item
    assert final.text.startswith("n32000 loud16000")


def test_finish_transcribes_an_utterance_cut_off_mid_speech() -> None:
    async def scenario() -> list[LiveEvent]:
        session = make(NamingRecognizer())
        await feed(session, pcm(("silence", 0.3), ("speech", 1.2)))
        return await drain(session)

    events = run(scenario)
    assert [type(e).__name__ for e in events] == ["SpeechStarted", "SpeechStopped", "Committed", "Final"]
    final = events[-1]
    assert isinstance(final, Final)
    assert "loud19200" in final.text  # all of the speech, nothing lost


def test_an_utterance_at_the_length_limit_is_committed_and_speech_goes_on_in_the_next() -> None:
    async def scenario() -> list[LiveEvent]:
        session = make(NamingRecognizer(), max_utterance_seconds=1.0)
        await feed(session, pcm(("speech", 2.5), ("silence", 1.0)))
        return await drain(session)

    finals = [e for e in run(scenario) if isinstance(e, Final)]
    assert [f.seconds for f in finals][:2] == [1.0, 1.0]
    assert sum(int(f.text.split()[1][4:]) for f in finals) == round(2.5 * RATE)  # every loud sample, once


def test_partials_extend_the_text_while_speaking_and_stop_at_the_commit() -> None:
    async def scenario() -> list[LiveEvent]:
        recognizer = NamingRecognizer()
        session = make(recognizer, partial_seconds=0.4)
        events: list[LiveEvent] = []
        await feed(session, pcm(("silence", 0.2), ("speech", 0.6)))
        async for event in session.events():  # a partial comes while the utterance is still open
            events.append(event)
            if isinstance(event, Partial):
                break
        await feed(session, pcm(("speech", 0.3), ("silence", 1.0)))
        return events + await drain(session)

    events = run(scenario)
    first = next(e for e in events if isinstance(e, Partial))
    assert first.text.startswith("n")
    assert first.delta == " ".join(first.text.split()[:-1])  # the last word is held back
    stopped = next(i for i, e in enumerate(events) if isinstance(e, SpeechStopped))
    assert all(not isinstance(e, Partial) for e in events[stopped:])


def test_a_partial_still_running_at_the_commit_never_reports() -> None:
    async def scenario() -> list[LiveEvent]:
        recognizer = NamingRecognizer()
        recognizer.gate.clear()
        session = make(recognizer, turns=None, partial_seconds=0.2)
        await feed(session, pcm(("speech", 0.5)))
        await recognizer.entered.wait()  # the partial is running
        await session.commit()
        recognizer.gate.set()
        return await drain(session)

    assert [type(e).__name__ for e in run(scenario)] == ["Committed", "Final"]


def test_flush_reports_after_the_finals_before_it() -> None:
    async def scenario() -> list[LiveEvent]:
        session = make(NamingRecognizer(), turns=None)
        await session.flush()
        await feed(session, pcm(("speech", 0.5)))
        await session.flush()
        return await drain(session)

    results = [e for e in run(scenario) if isinstance(e, Final | Flushed)]
    assert [type(e).__name__ for e in results] == ["Flushed", "Final", "Flushed"]
    assert results[0] == Flushed(empty=True)
    assert results[-1] == Flushed(empty=False)


def test_a_client_faster_than_transcription_hits_the_backlog_limit_and_loses_nothing_queued() -> None:
    async def scenario() -> tuple[bool, list[LiveEvent]]:
        recognizer = NamingRecognizer()
        recognizer.gate.clear()  # transcription stalls: every committed utterance waits
        session = make(recognizer, max_backlog_seconds=2.0)
        refused = False
        try:
            await feed(session, pcm(*[("speech", 0.8), ("silence", 0.5)] * 6))
        except BacklogFullError:
            refused = True
        recognizer.gate.set()
        return refused, await drain(session)

    refused, events = run(scenario)
    assert refused
    committed = [e.item_id for e in events if isinstance(e, Committed)]
    assert committed == [e.item_id for e in events if isinstance(e, Final)]  # every one transcribed


@pytest.mark.parametrize("turns", [VAD, None])
def test_audio_faster_than_real_time_is_refused_even_silence(turns: TurnDetection | None) -> None:
    """Silence commits nothing, so the backlog never grows: the pace is checked against a clock (here a
    fake one, moved by the test). At real time, 10 s go through with a 2-s allowance; sent at once, the
    same silence is refused once it is more than 2 s ahead, and the session still ends cleanly."""

    async def scenario(real_time: bool) -> tuple[float | None, list[LiveEvent]]:
        now = [0.0]
        session = make(NamingRecognizer(), turns=turns, clock=lambda: now[0], max_backlog_seconds=2.0)
        silence = pcm(("silence", 10.0))
        piece = 3200  # 0.1 s
        refused_at: float | None = None
        try:
            for i in range(0, len(silence), piece):
                await session.append(silence[i : i + piece])
                if real_time:
                    now[0] += 0.1
        except BacklogFullError:
            refused_at = (i + piece) / 2 / RATE
        return refused_at, await drain(session)

    refused_at, _ = run(lambda: scenario(real_time=True))
    assert refused_at is None
    refused_at, events = run(lambda: scenario(real_time=False))
    assert refused_at == pytest.approx(2.1)  # the first piece past the allowance
    finals = [e.text for e in events if isinstance(e, Final)]
    # Nothing sent is lost: a manual buffer holds all 2.1 s and is transcribed at the end.
    assert finals == ([] if turns else [f"n{round(2.1 * RATE)} loud0 x"])


def test_clear_drops_the_open_utterance() -> None:
    async def scenario() -> list[LiveEvent]:
        session = make(NamingRecognizer(), turns=None)
        await feed(session, pcm(("speech", 0.5)))
        session.clear()
        await feed(session, pcm(("speech", 0.25)))
        await session.commit()
        return await drain(session)

    finals = [e for e in run(scenario) if isinstance(e, Final)]
    assert [f.text.split()[1] for f in finals] == ["loud4000"]


def test_aclose_gives_the_lane_back() -> None:
    recognizer = NamingRecognizer()

    async def scenario() -> None:
        session = make(recognizer)
        await feed(session, pcm(("speech", 0.5)))
        await session.aclose()

    run(scenario)
    assert recognizer.closed


def test_work_the_lane_cancels_fails_the_utterance_not_the_session() -> None:
    from concurrent.futures import Future

    from gigaam_api.live.recognizer import LaneClosedError, LaneRecognizer

    class StoppedLane:
        def submit(self, work: Callable[[], T]) -> Future[T]:
            future: Future[T] = Future()
            future.cancel()  # what a stopped scheduler answers
            return future

        def close(self) -> None:
            pass

    async def scenario() -> None:
        recognizer = LaneRecognizer(engine=None, lane=StoppedLane(), options=EngineOptions())  # type: ignore[arg-type]
        with pytest.raises(LaneClosedError):
            await recognizer.transcribe(np.zeros(16, np.float32))

    run(scenario)


def test_the_vad_does_not_wait_behind_other_work_in_the_default_executor() -> None:
    """Uploads hash files, jobs wait for decoding, the cache reads disk, all in asyncio's default
    executor: live audio must not queue behind them (it goes first, and its socket is not read meanwhile)."""
    release = threading.Event()

    async def scenario() -> list[LiveEvent]:
        loop = asyncio.get_running_loop()
        loop.set_default_executor(ThreadPoolExecutor(max_workers=1))
        busy = loop.run_in_executor(None, release.wait)  # the default executor's only thread, held
        session = make(NamingRecognizer())
        try:
            async with asyncio.timeout(60):  # bounds a hang; the append needs no waiting at all
                await feed(session, pcm(("silence", 0.5), ("speech", 1.0), ("silence", 1.0)))
        finally:
            release.set()
            await busy
        return await drain(session)

    events = run(scenario)
    assert [type(e).__name__ for e in events] == ["SpeechStarted", "SpeechStopped", "Committed", "Final"]


def test_a_large_piece_is_decoded_off_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 16-MiB append takes most of a second to decode: the event loop (every other socket, their
    keepalive pings) must go on meanwhile."""
    loop_ran = threading.Event()
    during_decoding: list[bool] = []

    class WaitsForTheLoop(InputDecoder):
        def __call__(self, data: bytes) -> Audio:
            # Set by the event loop: never, while the loop itself waits for this call.
            during_decoding.append(loop_ran.wait(timeout=60))
            return super().__call__(data)

    monkeypatch.setattr(session_module, "InputDecoder", WaitsForTheLoop)

    async def scenario() -> None:
        session = make(NamingRecognizer())
        asyncio.get_running_loop().call_soon(loop_ran.set)
        await session.append(pcm(("silence", 2.0)))
        await drain(session)

    run(scenario)
    assert during_decoding == [True]
