"""The waiting line in front of the running slots, against a real server and the official client.

The engine is the real one behind a `WatchedEngine` gate, so the line fills to a known state before any
request may finish; the assertions are about who waited, who was refused and in which order work ran.
"""

from __future__ import annotations

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
from tests.fixtures.engines import WatchedEngine
from tests.fixtures.live_server import LiveServer, start_server
from tests.fixtures.raw_http import RawConnection, file_part, multipart
from tests.fixtures.scheduler import RecordingScheduler, recorded_pipeline
from tests.fixtures.speech import long_speech, write_wav
from tests.fixtures.threads import in_thread
from tests.fixtures.waiting import HANG_GUARD_SECONDS, wait_until

ENDPOINT = "/v1/audio/transcriptions"
BOUNDARY = b"line-test-boundary"
SENTENCES = [
    "Добрый день, коллеги.",
    "Сегодня мы обсудим план работ на следующий квартал.",
    "Первый пункт касается обновления серверов.",
    "Второй пункт про обучение новых сотрудников.",
]


def _speech_wav(path: Path, repeats: int) -> bytes:
    audio, _ = long_speech(SENTENCES * repeats, [0.8, 1.2, 0.6, 1.5] * repeats + [0.5])
    return write_wav(path, audio).read_bytes()


@pytest.fixture(scope="module")
def long_wav(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """About a minute and a half of speech: with VAD_MAX=5, a batch every few seconds of it."""
    return _speech_wav(tmp_path_factory.mktemp("line") / "long.wav", 3)


@pytest.fixture(scope="module")
def medium_wav(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """Two thirds of `long_wav`: long enough for the VAD path (over DIRECT_MAX_SECONDS)."""
    return _speech_wav(tmp_path_factory.mktemp("line") / "medium.wav", 2)


@pytest.fixture
def gated(
    settings_factory: Callable[..., Settings],
) -> Iterator[Callable[..., tuple[LiveServer, WatchedEngine]]]:
    started: list[tuple[LiveServer, WatchedEngine]] = []

    def make(**overrides: Any) -> tuple[LiveServer, WatchedEngine]:
        holder: list[WatchedEngine] = []

        def wrap(engine: ASREngine) -> ASREngine:
            holder.append(WatchedEngine(engine, gated=True))
            return holder[0]

        live = start_server(
            settings_factory(**overrides), factory=partial(build_transcriber, wrap_engine=wrap)
        )
        started.append((live, holder[0]))
        return live, holder[0]

    yield make
    for live, engine in started:
        engine.gate.set()
        live.stop()


def _post(live: LiveServer, audio: bytes) -> Callable[[], httpx.Response]:
    return lambda: httpx.post(f"{live.url}{ENDPOINT}", files={"file": ("a.wav", audio)}, timeout=120)


def _line_is(live: LiveServer, running: int, waiting: int) -> bool:
    return (live.state.admission.running, live.state.admission.waiting) == (running, waiting)


def _opened(scheduler: RecordingScheduler, tickets: int) -> bool:
    return len(scheduler.opened) == tickets


def _metric(live: LiveServer, name: str) -> float:
    for line in httpx.get(f"{live.url}/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in /metrics")


def test_twenty_concurrent_requests_at_the_defaults_all_wait_their_turn(
    gated: Callable[..., tuple[LiveServer, WatchedEngine]], server: LiveServer, audio_dir: Path
) -> None:
    """More requests than running slots at once, as Open WebUI sends a long file's chunks: no 503."""
    files = [audio_dir / f"{phrase}.{fmt}" for phrase in ("greeting", "weather") for fmt in ("wav", "mp3")]
    expected = {
        path.name: server.client().audio.transcriptions.create(model="whisper-1", file=path.open("rb")).text
        for path in files
    }
    live, engine = gated()  # the default MAX_RUNNING, MAX_WAITING and MAX_UPLOADS
    settings = live.state.settings
    assert settings.MAX_RUNNING < 20 <= settings.MAX_RUNNING + settings.MAX_WAITING
    client = live.client(timeout=300)  # max_retries=0: a 503 would fail the request
    chosen = [files[n % len(files)] for n in range(20)]
    requests = [
        in_thread(
            partial(
                client.audio.transcriptions.create, model="whisper-1", file=(path.name, path.read_bytes())
            )
        )
        for path in chosen
    ]
    wait_until(lambda: live.state.admission.count == 20, "all 20 uploads are in, running or in line")
    health = httpx.get(f"{live.url}/health").json()
    assert (health["running"], health["waiting"]) == (settings.MAX_RUNNING, 20 - settings.MAX_RUNNING)
    assert _metric(live, "gigaam_queue_length") == 20 - settings.MAX_RUNNING
    engine.gate.set()
    for thread, _ in requests:
        thread.join(300)
    results = [outcome[0] for _, outcome in requests]
    assert [r.text if isinstance(r, openai.types.audio.Transcription) else r for r in results] == [
        expected[path.name] for path in chosen
    ]
    assert _metric(live, "gigaam_line_wait_seconds_count") == 20
    assert _metric(live, "gigaam_queue_length") == 0
    assert _metric(live, "gigaam_running") == 0
    assert list(live.state.spool.path.iterdir()) == []


def test_a_full_line_is_503_with_retry_after(
    gated: Callable[..., tuple[LiveServer, WatchedEngine]], audio_dir: Path
) -> None:
    live, engine = gated(MAX_RUNNING=1, MAX_WAITING=1)
    wav = (audio_dir / "greeting.wav").read_bytes()
    first, first_outcome = in_thread(_post(live, wav))
    wait_until(lambda: live.state.admission.running == 1, "the first request runs")
    second, second_outcome = in_thread(_post(live, wav))
    wait_until(lambda: live.state.admission.waiting == 1, "the second request waits in line")

    with pytest.raises(openai.InternalServerError) as info:
        live.client().audio.transcriptions.create(model="whisper-1", file=("a.wav", wav))
    assert info.value.status_code == 503
    assert int(info.value.response.headers["retry-after"]) > 0
    error = info.value.response.json()["error"]
    assert error["code"] == "queue_full" and "MAX_WAITING" in error["message"]

    engine.gate.set()
    first.join(HANG_GUARD_SECONDS)
    second.join(HANG_GUARD_SECONDS)
    statuses = [o[0].status_code for o in (first_outcome, second_outcome) if isinstance(o[0], httpx.Response)]
    assert statuses == [200, 200]


def test_a_client_that_gives_up_waiting_leaves_the_line(
    gated: Callable[..., tuple[LiveServer, WatchedEngine]], audio_dir: Path
) -> None:
    live, engine = gated(MAX_RUNNING=1, MAX_WAITING=1)
    wav = (audio_dir / "greeting.wav").read_bytes()
    first, first_outcome = in_thread(_post(live, wav))
    wait_until(lambda: live.state.admission.running == 1, "the first request runs")
    # Its run makes its decoded-audio file a few loop turns after it takes the slot: count once it is at
    # the engine, so the count cannot miss that file (the wait for it below would then never end).
    wait_until(engine.started.is_set, "the first request is at the engine")
    files_of_running = len(list(live.state.spool.path.iterdir()))

    with RawConnection(live.url) as conn:  # a complete upload, then the client hangs up while in line
        conn.send_form(multipart([file_part(wav)], BOUNDARY), BOUNDARY, ENDPOINT)
        wait_until(lambda: live.state.admission.waiting == 1, "the upload waits in line")
    wait_until(lambda: live.state.admission.waiting == 0, "the disconnected client left the line")
    wait_until(
        lambda: len(list(live.state.spool.path.iterdir())) == files_of_running, "its upload is removed"
    )

    third, third_outcome = in_thread(_post(live, wav))  # its place is free again
    wait_until(lambda: live.state.admission.waiting == 1, "a new request takes the freed place")
    engine.gate.set()
    first.join(HANG_GUARD_SECONDS)
    third.join(HANG_GUARD_SECONDS)
    assert [o[0].status_code for o in (first_outcome, third_outcome) if isinstance(o[0], httpx.Response)] == [
        200,
        200,
    ]
    assert list(live.state.spool.path.iterdir()) == []


def test_a_short_request_from_the_line_still_goes_first_once_running(
    settings_factory: Callable[..., Settings], long_wav: bytes, medium_wav: bytes, audio_dir: Path
) -> None:
    """FIFO into the running slots; once running, short audio goes before long runs that started before
    it, not just in its round-robin turn.

    Every step is forced: the engine holds long-1's first batch at its gate, running requests give their
    slots up by being cancelled, and the gate opens only once two long runs and the short one have
    batches queued, so round-robin alone would run a long run's batch next.
    """
    settings = settings_factory(MAX_RUNNING=3, BATCH_SECONDS=1, VAD_MIN=2, VAD_MAX=5)
    scheduler = RecordingScheduler()
    factory, engine = recorded_pipeline(settings, scheduler, partial(WatchedEngine, gated=True))
    live = start_server(settings, factory=factory)
    try:
        ids: dict[str, str] = {}
        requests: dict[str, tuple[threading.Thread, list[object]]] = {}
        for name, audio, running, waiting in [
            ("long-1", medium_wav, 1, 0),
            ("long-2", long_wav, 2, 0),
            ("long-3", medium_wav, 3, 0),
            ("long-4", long_wav, 3, 1),
            ("short", (audio_dir / "weather.wav").read_bytes(), 3, 2),
        ]:
            before = live.state.cancellations.request_ids
            requests[name] = in_thread(_post(live, audio))
            wait_until(partial(_line_is, live, running, waiting), f"{name} is in its place")
            [ids[name]] = live.state.cancellations.request_ids - before
            # A run opens its ticket once its audio is known usable: wait for it, so tickets open in
            # the order slots were granted.
            wait_until(partial(_opened, scheduler, running), f"{name}'s run has begun")
            if name == "long-1":
                # Its first batch must be the one held: a run whose first batch is at the gate queues
                # no second one until it is back, so a later run's batch held there would leave that
                # run with nothing queued (the VADs race: long-2's first chunk can come first).
                wait_until(engine.started.is_set, "long-1's first batch is at the gate")
                assert scheduler.ran == [scheduler.opened[0].id]
        for name, tickets, line in [("long-1", 4, (3, 1)), ("long-3", 5, (3, 0))]:
            assert httpx.delete(f"{live.url}{ENDPOINT}/{ids[name]}").status_code == 204
            wait_until(partial(_line_is, live, *line), f"{name} gave its slot to the first in line")
            wait_until(partial(_opened, scheduler, tickets), "the next in line began its run")
        assert [t.interactive for t in scheduler.opened] == [False, False, False, False, True], (
            "long-4, first in line, took the first free slot; short the second"
        )
        long_2, long_4, short = scheduler.opened[1], scheduler.opened[3], scheduler.opened[4]
        wait_until(
            lambda: all(t.pending for t in (long_2, long_4, short)),
            "both long runs and short have work queued",
        )
        engine.gate.set()
        answers = {}
        for name, (thread, outcome) in requests.items():
            thread.join(HANG_GUARD_SECONDS)
            answer = outcome[0]
            assert isinstance(answer, httpx.Response), answer
            answers[name] = answer.status_code
    finally:
        engine.gate.set()
        live.stop()
    assert answers == {"long-1": 499, "long-2": 200, "long-3": 499, "long-4": 200, "short": 200}
    # ran[0] is the batch the engine held at its gate; the next one is short's, ahead of both long runs.
    assert scheduler.ran[1] == short.id, scheduler.ran
    assert {long_2.id, long_4.id} <= set(scheduler.ran[2:]), "the long runs still had work"


def test_sigterm_sends_the_line_away_and_lets_running_work_finish(
    gated: Callable[..., tuple[LiveServer, WatchedEngine]], audio_dir: Path
) -> None:
    # A grace no loaded machine outlasts: the drain below must end with the running request, not the grace.
    live, engine = gated(MAX_RUNNING=1, SHUTDOWN_GRACE_SECONDS=6 * HANG_GUARD_SECONDS)
    wav = (audio_dir / "greeting.wav").read_bytes()
    running, running_outcome = in_thread(_post(live, wav))
    wait_until(lambda: live.state.admission.running == 1, "the first request runs")
    waiting = [in_thread(_post(live, wav)) for _ in range(2)]
    wait_until(lambda: live.state.admission.waiting == 2, "two requests wait in line")

    drained = threading.Event()
    live.state.shutdown.begin(drained.set)  # what the server does on SIGTERM
    for thread, _ in waiting:
        thread.join(HANG_GUARD_SECONDS)
    for _, outcome in waiting:
        response = outcome[0]
        assert isinstance(response, httpx.Response) and response.status_code == 503
        assert response.json()["error"]["code"] == "shutting_down"
        assert int(response.headers["retry-after"]) > 0
    assert not drained.is_set(), "the running request is still within its grace period"
    engine.gate.set()
    running.join(HANG_GUARD_SECONDS)
    assert isinstance(running_outcome[0], httpx.Response) and running_outcome[0].status_code == 200
    assert drained.wait(HANG_GUARD_SECONDS)
    assert list(live.state.spool.path.iterdir()) == []
