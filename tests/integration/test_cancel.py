"""Cancelling by request id, and runs nobody waits for, against a real server (sharing on, default grace).

The engine is the real one behind a gate (`WatchedEngine`, `SteppedEngine`): every interleaving is
forced by the test, and what is asserted is observable (batches the engine ran, the stream's events,
the server's slots), never a duration.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import numpy as np
import openai
import pytest

from tests.fixtures.engines import SHORT_CHUNKS, SteppedEngine, WatchedEngine, gated
from tests.fixtures.live_server import LiveServer
from tests.fixtures.speech import PHRASES, synthesize, write_wav
from tests.fixtures.threads import in_thread
from tests.fixtures.waiting import HANG_GUARD_SECONDS, wait_until

ALPHA, BETA = "alpha-key", "beta-key"


def transcriptions(live: LiveServer) -> str:
    return f"{live.url}/v1/audio/transcriptions"


def auth(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}


def events(response: httpx.Response) -> Iterator[dict[str, object]]:
    """The stream's events as they arrive, until the server ends it."""
    for line in response.iter_lines():
        if line.startswith("data: "):
            yield json.loads(line.removeprefix("data: "))


def error_code(event: dict[str, object]) -> object:
    error = event.get("error")
    return error.get("code") if isinstance(error, dict) else None


def test_delete_stops_the_run_within_one_batch_despite_the_grace(
    served: Callable[..., tuple[LiveServer, SteppedEngine]], meeting: Path, audio_dir: Path
) -> None:
    live, engine = served(SteppedEngine, **SHORT_CHUNKS)  # DEDUP_GRACE_SECONDS at its default (60)
    with (
        httpx.Client(timeout=60) as http,
        http.stream(
            "POST",
            transcriptions(live),
            data={"stream": "true"},
            files={"file": ("meeting.wav", meeting.read_bytes())},
        ) as stream,
    ):
        assert stream.status_code == 200
        request_id = stream.headers["x-request-id"]
        received = events(stream)
        engine.step(1)
        assert next(received)["type"] == "transcript.text.delta"  # the first batch's segment
        wait_until(lambda: engine.entered == 2, "the second batch is in the engine")

        deleted = http.delete(f"{transcriptions(live)}/{request_id}")
        assert deleted.status_code == 204, deleted.text
        rest = list(received)
    assert error_code(rest[-1]) == "request_cancelled"
    assert all(e.get("type") != "transcript.text.done" for e in rest)
    # No grace after a cancel: the run is done with, its running slot given back.
    wait_until(lambda: live.state.runs.in_flight == 0 and live.state.admission.count == 0, "the run stopped")

    engine.step(1000)  # the batch that was in the engine finishes; nothing of the meeting may follow it
    other = ("greeting.wav", (audio_dir / "greeting.wav").read_bytes())
    assert live.client().audio.transcriptions.create(model="whisper-1", file=other).text
    assert len(engine.batches) == 3, "the meeting's two batches, then the greeting's: none after the cancel"
    wait_until(lambda: live.state.runs.in_flight == 0, "the greeting's run is done with")
    assert list(live.state.spool.path.iterdir()) == []


def test_a_client_attached_to_the_same_run_keeps_it_going(
    served: Callable[..., tuple[LiveServer, WatchedEngine]], audio_dir: Path, client: openai.OpenAI
) -> None:
    live, engine = served(gated)
    wav = (audio_dir / "weather.wav").read_bytes()
    with (
        httpx.Client(timeout=60) as http,
        http.stream(
            "POST", transcriptions(live), data={"stream": "true"}, files={"file": ("weather.wav", wav)}
        ) as cancelling,
    ):
        assert cancelling.status_code == 200
        wait_until(engine.started.is_set, "the run's batch holds the engine")
        staying, out = in_thread(
            lambda: live.client().audio.transcriptions.create(model="whisper-1", file=("weather.wav", wav))
        )
        wait_until(lambda: live.state.runs.clients == 2, "the second request attaches")
        deleted = http.delete(f"{transcriptions(live)}/{cancelling.headers['x-request-id']}")
        assert deleted.status_code == 204
        assert error_code(list(events(cancelling))[-1]) == "request_cancelled"
    wait_until(lambda: live.state.runs.clients == 1, "the cancelled request detached")
    assert live.state.runs.in_flight == 1
    engine.gate.set()
    staying.join(HANG_GUARD_SECONDS)

    assert out == [client.audio.transcriptions.create(model="whisper-1", file=("weather.wav", wav))]
    assert len(engine.batches) == 1


def test_a_cancel_is_answered_while_the_server_drains(
    served: Callable[..., tuple[LiveServer, WatchedEngine]], audio_dir: Path
) -> None:
    """After SIGTERM new requests get 503, but a cancel ends a run the drain would wait for."""
    live, engine = served(gated, SHUTDOWN_GRACE_SECONDS=6 * HANG_GUARD_SECONDS)
    wav = (audio_dir / "weather.wav").read_bytes()
    drained = threading.Event()
    with (
        httpx.Client(timeout=60) as http,
        http.stream(
            "POST", transcriptions(live), data={"stream": "true"}, files={"file": ("weather.wav", wav)}
        ) as stream,
    ):
        assert stream.status_code == 200
        wait_until(engine.started.is_set, "the run's batch holds the engine")
        live.state.shutdown.begin(drained.set)  # what the server does on SIGTERM
        wait_until(lambda: live.state.shutdown.draining, "the drain has begun")
        refused = http.post(transcriptions(live), files={"file": ("weather.wav", wav)})
        assert refused.status_code == 503 and refused.json()["error"]["code"] == "shutting_down"

        deleted = http.delete(f"{transcriptions(live)}/{stream.headers['x-request-id']}")
        assert deleted.status_code == 204, deleted.text
        assert error_code(list(events(stream))[-1]) == "request_cancelled"
    engine.gate.set()
    assert drained.wait(HANG_GUARD_SECONDS), "the drain ends with the cancelled run, long before its grace"


def test_only_the_key_that_made_the_request_may_cancel_it(
    served: Callable[..., tuple[LiveServer, WatchedEngine]], audio_dir: Path
) -> None:
    live, engine = served(gated, API_KEY=f"{ALPHA},{BETA}")
    with (
        httpx.Client(timeout=60) as http,
        http.stream(
            "POST",
            transcriptions(live),
            data={"stream": "true"},
            files={"file": ("weather.wav", (audio_dir / "weather.wav").read_bytes())},
            headers=auth(ALPHA),
        ) as stream,
    ):
        assert stream.status_code == 200
        url = f"{transcriptions(live)}/{stream.headers['x-request-id']}"
        wait_until(engine.started.is_set, "the run's batch holds the engine")

        other_key = http.delete(url, headers=auth(BETA))
        assert other_key.status_code == 404
        assert other_key.json()["error"]["code"] == "request_not_found"
        assert http.delete(url).status_code == 401
        unknown = http.delete(f"{transcriptions(live)}/req_0123456789abcdef01234567", headers=auth(ALPHA))
        assert unknown.status_code == 404 and unknown.json()["error"]["type"] == "invalid_request_error"
        assert live.state.runs.clients == 1, "nothing was cancelled by the refused calls"

        assert http.delete(url, headers=auth(ALPHA)).status_code == 204
        assert error_code(list(events(stream))[-1]) == "request_cancelled"
    wait_until(lambda: not live.state.cancellations.request_ids, "the request has ended")
    assert httpx.delete(url, headers=auth(ALPHA)).status_code == 404, "a finished request is unknown"


@pytest.fixture(scope="module")
def distinct_recordings(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The same phrase, each with a different number of trailing silent samples: distinct runs."""
    speech = synthesize(PHRASES["weather"])
    root = tmp_path_factory.mktemp("abandoned")
    return [
        write_wav(root / f"weather-{i}.wav", np.concatenate([speech, np.zeros(i + 1, np.float32)]))
        for i in range(8)
    ]


def test_abandoned_streams_give_their_running_slots_to_a_request_waiting_in_line(
    served: Callable[..., tuple[LiveServer, WatchedEngine]],
    distinct_recordings: list[Path],
    audio_dir: Path,
    client: openai.OpenAI,
) -> None:
    # A grace far longer than the test waits: only giving the slot up can let the newcomer run.
    live, engine = served(gated, MAX_RUNNING=len(distinct_recordings), DEDUP_GRACE_SECONDS=3600)
    with httpx.Client(timeout=60) as http:
        for path in distinct_recordings:
            with http.stream(
                "POST",
                transcriptions(live),
                data={"stream": "true"},
                files={"file": (path.name, path.read_bytes())},
            ) as abandoned:
                assert abandoned.status_code == 200  # then the client goes away
    wait_until(lambda: live.state.runs.clients == 0, "the server saw every client go")
    assert live.state.admission.running == len(distinct_recordings), "every slot is held by an orphaned run"

    greeting = ("greeting.wav", (audio_dir / "greeting.wav").read_bytes())
    newcomer, out = in_thread(
        lambda: live.client().audio.transcriptions.create(model="whisper-1", file=greeting)
    )
    # In this order: the newcomer is attached, an orphaned run is gone (its slot went to the line's
    # first), and nobody waits.
    wait_until(
        lambda: (
            live.state.runs.clients == 1
            and live.state.runs.in_flight == len(distinct_recordings)
            and live.state.admission.waiting == 0
        ),
        "one orphaned run stopped and the newcomer got its running slot",
    )
    assert engine.batches == [], "no batch had to finish to make room"
    assert live.state.admission.running == len(distinct_recordings), "the other orphaned runs linger"
    engine.gate.set()
    newcomer.join(HANG_GUARD_SECONDS)
    assert out == [client.audio.transcriptions.create(model="whisper-1", file=greeting)]


def test_a_plain_request_waiting_in_line_is_cancelled_with_a_499(
    served: Callable[..., tuple[LiveServer, WatchedEngine]], audio_dir: Path
) -> None:
    live, engine = served(gated, MAX_RUNNING=1)
    weather = ("weather.wav", (audio_dir / "weather.wav").read_bytes())
    busy, busy_out = in_thread(
        lambda: live.client().audio.transcriptions.create(model="whisper-1", file=weather)
    )
    wait_until(engine.started.is_set, "another request holds the only running slot")
    before = live.state.cancellations.request_ids
    greeting = {"file": ("greeting.wav", (audio_dir / "greeting.wav").read_bytes())}
    waiting, out = in_thread(lambda: httpx.post(transcriptions(live), files=greeting, timeout=60))
    wait_until(lambda: live.state.admission.waiting == 1, "the request waits in line")
    [request_id] = live.state.cancellations.request_ids - before

    assert httpx.delete(f"{transcriptions(live)}/{request_id}").status_code == 204
    waiting.join(HANG_GUARD_SECONDS)
    answer = out[0]
    assert isinstance(answer, httpx.Response)
    assert answer.status_code == 499 and answer.json()["error"]["code"] == "request_cancelled"
    assert answer.headers["x-request-id"] == request_id
    assert live.state.admission.waiting == 0
    engine.gate.set()
    busy.join(HANG_GUARD_SECONDS)
    assert not isinstance(busy_out[0], Exception)
    assert len(engine.batches) == 1, "the cancelled request never ran"
