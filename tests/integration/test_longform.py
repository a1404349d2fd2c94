"""Long audio end to end: real Silero VAD, the generated GigaAM-format model, a real server.

Timings are forced where needed with `WatchedEngine` (a delay or a gate around the real engine);
the assertions count batches and events, never seconds.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from gigaam_api.app import build_transcriber
from gigaam_api.config import Settings
from gigaam_api.engines.base import ASREngine
from tests.fixtures.engines import SHORT_CHUNKS, SteppedEngine, WatchedEngine
from tests.fixtures.live_server import LiveServer, start_server
from tests.fixtures.raw_http import RawConnection, file_part, multipart
from tests.fixtures.scheduler import RecordingScheduler, recorded_pipeline
from tests.fixtures.speech import PAUSES, SENTENCES, long_speech, write_wav
from tests.fixtures.threads import in_thread
from tests.fixtures.waiting import HANG_GUARD_SECONDS, wait_until


@pytest.fixture(scope="session")
def long_audio(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[tuple[float, float]]]:
    """About 3 minutes: the sentences four times over, with pauses of known lengths."""
    phrases = SENTENCES * 4
    pauses = [*PAUSES * 4, 1.0]
    audio, regions = long_speech(phrases, pauses)
    path = tmp_path_factory.mktemp("long") / "meeting.wav"
    write_wav(path, audio)
    return path, regions


def _upload(path: Path) -> tuple[str, bytes]:
    return ("upload", path.read_bytes())


def _watched_server(
    settings_factory: Callable[..., Settings], **overrides: Any
) -> tuple[LiveServer, WatchedEngine]:
    delay = overrides.pop("delay", 0.0)
    gated = overrides.pop("gated", False)
    holder: list[WatchedEngine] = []

    def wrap(engine: ASREngine) -> ASREngine:
        holder.append(WatchedEngine(engine, delay=delay, gated=gated))
        return holder[0]

    live = start_server(settings_factory(**overrides), factory=partial(build_transcriber, wrap_engine=wrap))
    return live, holder[0]


@pytest.fixture
def watched(
    settings_factory: Callable[..., Settings],
) -> Iterator[Callable[..., tuple[LiveServer, WatchedEngine]]]:
    started: list[tuple[LiveServer, WatchedEngine]] = []

    def make(**overrides: Any) -> tuple[LiveServer, WatchedEngine]:
        pair = _watched_server(settings_factory, **overrides)
        started.append(pair)
        return pair

    yield make
    for live, engine in started:
        engine.gate.set()
        live.stop()


def test_long_audio_segments_timestamps_and_stream_agree(
    client: openai.OpenAI, long_audio: tuple[Path, list[tuple[float, float]]]
) -> None:
    path, regions = long_audio
    plain = client.audio.transcriptions.create(
        model="whisper-1",
        file=_upload(path),
        response_format="verbose_json",
        timestamp_granularities=["word", "segment"],
    )
    segments = plain.segments or []
    assert len(segments) >= 6  # ~3 minutes in chunks of at most 22 s
    assert abs(plain.duration - regions[-1][1] - 1.0) < 0.1
    for a, b in itertools.pairwise(segments):
        assert a.end <= b.start, "segments are ordered and disjoint"
    for seg in segments:
        assert seg.end - seg.start <= 30
        assert 0 <= seg.start < seg.end <= plain.duration + 0.05
    for start, end in regions:  # every spoken sentence is covered by segments (it may straddle two)
        covered = sum(max(0.0, min(end, s.end) - max(start, s.start)) for s in segments)
        assert covered >= 0.95 * (end - start), (start, end, covered)
    words = plain.words or []
    assert [w.start for w in words] == sorted(w.start for w in words)
    for w in words:
        assert any(s.start <= w.start <= w.end <= s.end + 0.01 for s in segments)

    stream = client.audio.transcriptions.create(
        model="whisper-1",
        file=_upload(path),
        stream=True,
        timestamp_granularities=["word", "segment"],
        response_format="verbose_json",
    )
    events = list(stream)
    deltas = "".join(e.delta for e in events if e.type == "transcript.text.delta")
    done = [e for e in events if e.type == "transcript.text.done"]
    streamed = [e for e in events if e.type == "transcript.text.segment"]
    assert len(done) == 1
    assert deltas == done[0].text == plain.text
    assert [(s.start, s.end, s.text) for s in streamed] == [(s.start, s.end, s.text) for s in segments]


def test_long_audio_subtitles_are_readable(client: openai.OpenAI, long_audio: tuple[Path, Any]) -> None:
    body = client.audio.transcriptions.create(
        model="whisper-1", file=_upload(long_audio[0]), response_format="srt"
    )
    cues = [c.splitlines() for c in body.strip().split("\n\n")]
    assert len(cues) > 10
    for number, (index, timing, *lines) in enumerate(cues, start=1):
        assert int(index) == number
        start, end = (_srt_seconds(t) for t in timing.split(" --> "))
        assert 0 < end - start <= 7.0
        assert 1 <= len(lines) <= 2
        assert all(len(line) <= 42 or " " not in line for line in lines), lines  # a lone word may be longer


def _srt_seconds(stamp: str) -> float:
    hms, ms = stamp.split(",")
    h, m, s = (int(x) for x in hms.split(":"))
    return h * 3600 + m * 60 + s + int(ms) / 1000


def test_stream_sends_progress_and_keepalives(
    watched: Callable[..., tuple[LiveServer, WatchedEngine]], long_audio: tuple[Path, Any]
) -> None:
    live, engine = watched(gated=True, BATCH_SECONDS=1, PROGRESS_SECONDS=0.1, KEEPALIVE_SECONDS=0.1)
    files = {"file": ("upload", long_audio[0].read_bytes())}
    lines: list[str] = []
    with httpx.stream(
        "POST",
        f"{live.url}/v1/audio/transcriptions",
        data={"stream": "true", "include[]": "progress"},
        files=files,
        timeout=120,
    ) as response:
        for line in response.iter_lines():
            lines.append(line)
            if line.startswith(": "):  # a keep-alive while the gate holds the first batch: let it run
                engine.gate.set()
    assert engine.gate.is_set(), "keep-alive comments while a batch runs"
    events = [json.loads(line.removeprefix("data: ")) for line in lines if line.startswith("data: ")]
    progress = [e for e in events if e["type"] == "transcript.progress"]
    assert progress
    processed = [p["processed_seconds"] for p in progress]
    assert processed == sorted(processed)
    assert events[-1]["type"] == "transcript.text.done"


def test_progress_events_are_spaced_by_progress_seconds(
    watched: Callable[..., tuple[LiveServer, WatchedEngine]], long_audio: tuple[Path, Any]
) -> None:
    """The first progress event goes out at once, the next not before PROGRESS_SECONDS (an hour here)."""
    live, engine = watched(BATCH_SECONDS=1, PROGRESS_SECONDS=3600)
    files = {"file": ("upload", long_audio[0].read_bytes())}
    response = httpx.post(
        f"{live.url}/v1/audio/transcriptions",
        data={"stream": "true", "include[]": "progress"},
        files=files,
        timeout=120,
    )
    events = [
        json.loads(b.removeprefix("data: ")) for b in response.text.split("\n\n") if b.startswith("data: ")
    ]
    assert events[-1]["type"] == "transcript.text.done"
    assert len(engine.batches) > 2  # each batch reports progress
    assert [e["type"] for e in events].count("transcript.progress") == 1


def test_disconnect_mid_stream_stops_within_one_batch(
    served: Callable[..., tuple[LiveServer, SteppedEngine]], meeting: Path, audio_dir: Path
) -> None:
    live, engine = served(SteppedEngine, DEDUP=False, **SHORT_CHUNKS)  # no run outlives its client
    files = {"file": ("upload", meeting.read_bytes())}
    with (
        httpx.Client(timeout=60) as http,
        http.stream(
            "POST", f"{live.url}/v1/audio/transcriptions", data={"stream": "true"}, files=files
        ) as response,
    ):
        engine.step(1)
        lines = response.iter_lines()  # held: a dropped line iterator would close the connection now
        for line in lines:
            if '"transcript.text.segment"' in line:
                break
        wait_until(lambda: engine.entered == 2, "the second batch is in the engine")
    wait_until(lambda: live.state.admission.count == 0, "the job is released")

    engine.step(1000)  # the batch that was in the engine finishes; nothing of the meeting may follow it
    other = ("greeting.wav", (audio_dir / "greeting.wav").read_bytes())
    assert live.client().audio.transcriptions.create(model="whisper-1", file=other).text
    assert len(engine.batches) == 3, (
        "the meeting's two batches, then the greeting's: none after the disconnect"
    )
    assert list(live.state.spool.path.iterdir()) == []


def test_abandoned_queued_job_never_runs(
    watched: Callable[..., tuple[LiveServer, WatchedEngine]], long_audio: tuple[Path, Any], audio_dir: Path
) -> None:
    live, engine = watched(gated=True, BATCH_SECONDS=1)
    long_files = {"file": ("upload", long_audio[0].read_bytes())}
    short = (audio_dir / "weather.wav").read_bytes()
    long_done = threading.Event()

    def long_request() -> None:
        httpx.post(f"{live.url}/v1/audio/transcriptions", files=long_files, timeout=120)
        long_done.set()

    threading.Thread(target=long_request, daemon=True).start()
    wait_until(engine.started.is_set, "the long job's first batch holds the executor")
    # The client gives up once its request is running behind the held batch (as on a read timeout, but
    # never before the server has it: a client's own timer could run out first on a loaded machine).
    boundary = b"abandon-boundary"
    body = multipart([file_part(short)], boundary)
    with RawConnection(live.url) as conn:
        conn.send_form(body, boundary)
        wait_until(lambda: live.state.admission.count == 2, "the short request runs behind the held batch")
    wait_until(lambda: live.state.admission.count == 1, "the abandoned request is released")
    engine.gate.set()
    assert long_done.wait(HANG_GUARD_SECONDS)
    short_samples = round(len(short) / 2) - 22  # 16-bit mono WAV minus its 44-byte header
    assert all(abs(n - short_samples) > 100 for batch in engine.batches for n in batch)
    assert list(live.state.spool.path.iterdir()) == []


def test_queue_full_is_503_before_any_stream_byte(
    watched: Callable[..., tuple[LiveServer, WatchedEngine]], long_audio: tuple[Path, Any]
) -> None:
    live, engine = watched(gated=True, MAX_RUNNING=2, MAX_WAITING=0)  # no line: the third is refused
    payload = long_audio[0].read_bytes()
    results: list[int] = []

    def admitted_request() -> None:
        response = httpx.post(
            f"{live.url}/v1/audio/transcriptions", files={"file": ("upload", payload)}, timeout=120
        )
        results.append(response.status_code)

    threads = [threading.Thread(target=admitted_request, daemon=True) for _ in range(2)]
    for thread in threads:
        thread.start()
    wait_until(lambda: live.state.admission.count == 2, "both requests are admitted")
    with pytest.raises(openai.InternalServerError) as info:
        live.client().audio.transcriptions.create(model="whisper-1", file=("upload", payload), stream=True)
    assert info.value.status_code == 503
    assert int(info.value.response.headers["retry-after"]) > 0
    assert info.value.response.headers["content-type"].startswith("application/json")
    engine.gate.set()
    for thread in threads:
        thread.join(HANG_GUARD_SECONDS)
    assert results == [200, 200]


def test_short_request_is_not_stuck_behind_a_long_job(
    settings_factory: Callable[..., Settings], long_audio: tuple[Path, Any], audio_dir: Path
) -> None:
    """A short request waits for at most the long job's batch that is running, then runs its own."""
    settings = settings_factory(BATCH_SECONDS=1)
    scheduler = RecordingScheduler()
    factory, engine = recorded_pipeline(settings, scheduler, partial(WatchedEngine, gated=True))
    live = start_server(settings, factory=factory)
    try:
        long_job, _ = in_thread(
            lambda: httpx.post(
                f"{live.url}/v1/audio/transcriptions", files={"file": _upload(long_audio[0])}, timeout=120
            )
        )
        wait_until(engine.started.is_set, "a batch of the long job holds the engine")
        short, answer = in_thread(
            lambda: httpx.post(
                f"{live.url}/v1/audio/transcriptions",
                files={"file": ("upload", (audio_dir / "weather.wav").read_bytes())},
                timeout=120,
            )
        )
        wait_until(lambda: len(scheduler.opened) == 2, "the short request's run has begun")
        long_ticket, short_ticket = (t.id for t in scheduler.opened)
        wait_until(lambda: short_ticket in scheduler.queued, "the short request's batch is queued")
        engine.gate.set()
        short.join(HANG_GUARD_SECONDS)
        assert isinstance(answer[0], httpx.Response) and answer[0].status_code == 200
        long_job.join(HANG_GUARD_SECONDS)
    finally:
        engine.gate.set()
        live.stop()
    assert scheduler.ran[:2] == [long_ticket, short_ticket], "only the batch held in the engine went first"
    assert long_ticket in scheduler.ran[2:], "the long job still had work"


def test_default_stream_has_only_openai_event_types(
    watched: Callable[..., tuple[LiveServer, WatchedEngine]], long_audio: tuple[Path, Any]
) -> None:
    """A strict client streams a long file at the defaults: no progress event unless asked for."""
    live, _ = watched(delay=0.1, BATCH_SECONDS=1, PROGRESS_SECONDS=0.05)
    client = live.client()  # _strict_response_validation=True

    with long_audio[0].open("rb") as audio:
        events = list(
            client.audio.transcriptions.create(
                model="whisper-1", file=audio, response_format="json", stream=True
            )
        )

    assert {e.type for e in events} <= {
        "transcript.text.delta",
        "transcript.text.segment",
        "transcript.text.done",
    }
    assert events[-1].type == "transcript.text.done"
