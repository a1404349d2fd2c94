"""Deduplicated retries against a real server with the official client (strict validation).

The engine is the real one behind a gate (`WatchedEngine`, `SteppedEngine`), so each interleaving is
forced by the test; what is asserted is observable: batches the engine ran, /metrics, response bodies.
Reference bodies come from the session server, where sharing and the cache are off.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import openai
from openai.types.audio import TranscriptionVerbose
from prometheus_client.parser import text_string_to_metric_families

from tests.fixtures.engines import SHORT_CHUNKS, SteppedEngine, WatchedEngine, gated
from tests.fixtures.live_server import LiveServer
from tests.fixtures.raw_http import RawConnection, field_part, file_part, multipart
from tests.fixtures.threads import in_thread
from tests.fixtures.waiting import HANG_GUARD_SECONDS, wait_until

WAV_HEADER_BYTES = 44


def metric(live: LiveServer, name: str) -> float:
    """A counter's value as /metrics reports it."""
    text = httpx.get(f"{live.url}/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == f"{name}_total":
                return sample.value
    raise AssertionError(f"{name} is not in /metrics")


def inferred_samples(engine: WatchedEngine) -> int:
    return sum(n for batch in engine.batches for n in batch)


def stream_events(client: openai.OpenAI, upload: tuple[str, bytes], into: list[Any]) -> list[Any]:
    stream = client.audio.transcriptions.create(model="whisper-1", file=upload, stream=True)
    for event in stream:
        into.append(event)
    return into


def test_two_identical_requests_at_once_run_inference_once(
    served: Callable[..., tuple[LiveServer, WatchedEngine]], audio_dir: Path, client: openai.OpenAI
) -> None:
    live, engine = served(gated)
    upload = ("greeting.wav", (audio_dir / "greeting.wav").read_bytes())
    first, first_out = in_thread(
        lambda: live.client().audio.transcriptions.create(
            model="whisper-1", file=upload, response_format="verbose_json"
        )
    )
    wait_until(engine.started.is_set, "the first request's batch holds the engine")
    second, second_out = in_thread(
        lambda: live.client().audio.transcriptions.create(
            model="whisper-1", file=upload, response_format="srt"
        )
    )
    wait_until(lambda: metric(live, "gigaam_dedup_attached") == 1, "the second request attaches")
    assert live.state.admission.count == 1, "the attached request takes no running slot"
    engine.gate.set()
    first.join(HANG_GUARD_SECONDS)
    second.join(HANG_GUARD_SECONDS)

    assert len(engine.batches) == 1
    plain_verbose = client.audio.transcriptions.create(
        model="whisper-1", file=upload, response_format="verbose_json"
    )
    plain_srt = client.audio.transcriptions.create(model="whisper-1", file=upload, response_format="srt")
    assert first_out[0] == plain_verbose
    assert second_out[0] == plain_srt


def test_a_stream_attaching_mid_run_gets_every_segment(
    served: Callable[..., tuple[LiveServer, SteppedEngine]], meeting: Path
) -> None:
    live, engine = served(SteppedEngine, **SHORT_CHUNKS)
    upload = ("meeting.wav", meeting.read_bytes())
    early: list[Any] = []
    first, _ = in_thread(lambda: stream_events(live.client(), upload, early))
    engine.step(1)
    wait_until(lambda: any(e.type == "transcript.text.segment" for e in early), "a first segment streamed")
    late: list[Any] = []
    second, _ = in_thread(lambda: stream_events(live.client(), upload, late))
    wait_until(lambda: metric(live, "gigaam_dedup_attached") == 1, "the late stream attaches")
    engine.step(1000)
    first.join(HANG_GUARD_SECONDS)
    second.join(HANG_GUARD_SECONDS)

    def segments(events: list[Any]) -> list[tuple[str, float, float, str]]:
        return [(e.id, e.start, e.end, e.text) for e in events if e.type == "transcript.text.segment"]

    assert len(segments(early)) > 2
    assert segments(late) == segments(early)
    assert late[-1].type == "transcript.text.done" and late[-1].text == early[-1].text
    assert inferred_samples(engine) <= (len(upload[1]) - WAV_HEADER_BYTES) // 2, "no audio inferred twice"


def test_one_client_leaving_does_not_cancel_the_other(
    served: Callable[..., tuple[LiveServer, WatchedEngine]], audio_dir: Path, client: openai.OpenAI
) -> None:
    live, engine = served(gated, DEDUP_GRACE_SECONDS=0)  # no grace: only the other client keeps it going
    wav = (audio_dir / "weather.wav").read_bytes()
    with (
        httpx.Client(timeout=60) as http,
        http.stream(
            "POST",
            f"{live.url}/v1/audio/transcriptions",
            data={"stream": "true"},
            files={"file": ("weather.wav", wav)},
        ) as leaving,
    ):
        assert leaving.status_code == 200
        wait_until(engine.started.is_set, "the run's batch holds the engine")
        staying, out = in_thread(
            lambda: live.client().audio.transcriptions.create(model="whisper-1", file=("weather.wav", wav))
        )
        wait_until(lambda: live.state.runs.clients == 2, "the second request attaches")
    wait_until(lambda: live.state.runs.clients == 1, "the server saw the first client go")
    engine.gate.set()
    staying.join(HANG_GUARD_SECONDS)

    plain = client.audio.transcriptions.create(model="whisper-1", file=("weather.wav", wav))
    assert out == [plain]
    assert len(engine.batches) == 1
    wait_until(lambda: live.state.admission.count == 0, "the run is released")
    assert list(live.state.spool.path.iterdir()) == []


def _give_up_once_running(live: LiveServer, engine: WatchedEngine, audio: bytes, **fields: str) -> None:
    """A client that gives up (as on its read timeout) once its run is at the engine: it hangs up then,
    never before the server has the run (a client's own timer could run out first on a loaded machine)."""
    boundary = b"give-up-boundary"
    body = multipart([file_part(audio), *(field_part(k, v) for k, v in fields.items())], boundary)
    with RawConnection(live.url) as conn:
        conn.send_form(body, boundary)
        wait_until(
            lambda: live.state.runs.clients == 1 and engine.started.is_set(), "the run is at the engine"
        )


def test_a_retry_after_a_client_timeout_gets_the_result_without_starting_again(
    served: Callable[..., tuple[LiveServer, WatchedEngine]],
    meeting: Path,
    make_server: Callable[..., LiveServer],
) -> None:
    live, engine = served(gated, **SHORT_CHUNKS)
    upload = ("meeting.wav", meeting.read_bytes())
    _give_up_once_running(live, engine, upload[1], response_format="verbose_json")
    wait_until(lambda: live.state.runs.clients == 0, "the server saw the client give up")
    assert live.state.runs.in_flight == 1, "the run goes on for the grace period"

    retry, out = in_thread(
        lambda: live.client().audio.transcriptions.create(
            model="whisper-1", file=upload, response_format="verbose_json"
        )
    )
    wait_until(lambda: metric(live, "gigaam_dedup_attached") == 1, "the retry attaches")
    engine.gate.set()
    retry.join(HANG_GUARD_SECONDS)

    reference = make_server(**SHORT_CHUNKS).client()
    plain = reference.audio.transcriptions.create(
        model="whisper-1", file=upload, response_format="verbose_json"
    )
    assert out == [plain]
    assert inferred_samples(engine) <= (len(upload[1]) - WAV_HEADER_BYTES) // 2, "no audio inferred twice"


def test_a_repeat_is_answered_from_the_cache_in_any_format_and_after_a_restart(
    served: Callable[..., tuple[LiveServer, WatchedEngine]],
    audio_dir: Path,
    client: openai.OpenAI,
    tmp_path: Path,
) -> None:
    live, engine = served(WatchedEngine, CACHE_MAX_MB=16, CACHE_DIR=tmp_path / "cache")
    upload = ("greeting.wav", (audio_dir / "greeting.wav").read_bytes())
    create = partial(live.client().audio.transcriptions.create, model="whisper-1", file=upload)
    words = live.client().audio.transcriptions.create(
        model="whisper-1",
        file=upload,
        response_format="verbose_json",
        timestamp_granularities=["word", "segment"],
    )
    wait_until(lambda: live.state.runs.in_flight == 0, "the result is stored")
    batches = len(engine.batches)
    assert batches == 1

    cached_words: object = create(response_format="verbose_json", timestamp_granularities=["word", "segment"])
    cached_srt = create(response_format="srt")
    cached_logprobs = create(response_format="json", include=["logprobs"])
    streamed = stream_events(live.client(), upload, [])
    assert len(engine.batches) == batches, "no inference for a repeat"
    assert metric(live, "gigaam_cache_hits") == 4 and metric(live, "gigaam_cache_misses") == 1

    plain = partial(client.audio.transcriptions.create, model="whisper-1", file=upload)
    assert cached_words == words
    assert cached_srt == plain(response_format="srt")
    assert cached_logprobs == plain(response_format="json", include=["logprobs"])
    assert words.segments
    segment_texts = [e.text for e in streamed if e.type == "transcript.text.segment"]
    assert segment_texts == [s.text for s in words.segments]
    assert streamed[-1].text == words.text

    live.stop()
    again, again_engine = served(WatchedEngine, CACHE_MAX_MB=16, CACHE_DIR=tmp_path / "cache")
    after_restart = again.client().audio.transcriptions.create(
        model="whisper-1",
        file=upload,
        response_format="verbose_json",
        timestamp_granularities=["word", "segment"],
    )
    assert after_restart == words
    assert again_engine.batches == []


def test_options_that_change_the_transcript_are_part_of_the_key(
    served: Callable[..., tuple[LiveServer, WatchedEngine]], audio_dir: Path, tmp_path: Path
) -> None:
    live, engine = served(WatchedEngine, CACHE_MAX_MB=16, CACHE_DIR=tmp_path / "cache")
    create = partial(
        live.client().audio.transcriptions.create,
        model="whisper-1",
        file=("weather.wav", (audio_dir / "weather.wav").read_bytes()),
    )
    create()
    create(language="ru")
    create(prompt="погода")
    create(response_format="text")  # rendering only: from the cache
    create(temperature=0.5)  # greedy decoding ignores it: from the cache
    assert len(engine.batches) == 3
    other_audio = ("greeting.wav", (audio_dir / "greeting.wav").read_bytes())
    live.client().audio.transcriptions.create(model="whisper-1", file=other_audio)
    assert len(engine.batches) == 4


def test_with_the_cache_off_a_repeat_runs_again(
    served: Callable[..., tuple[LiveServer, WatchedEngine]], audio_dir: Path, tmp_path: Path
) -> None:
    live, engine = served(WatchedEngine, CACHE_MAX_MB=0, CACHE_DIR=tmp_path / "cache")
    upload = ("weather.wav", (audio_dir / "weather.wav").read_bytes())
    first = live.client().audio.transcriptions.create(model="whisper-1", file=upload)
    wait_until(lambda: live.state.runs.in_flight == 0, "the first run is done with")
    second = live.client().audio.transcriptions.create(model="whisper-1", file=upload)
    assert first == second
    assert len(engine.batches) == 2
    assert not (tmp_path / "cache").exists()


def test_a_lingering_run_is_stopped_cleanly_at_shutdown(
    served: Callable[..., tuple[LiveServer, WatchedEngine]], meeting: Path
) -> None:
    live, engine = served(gated, **SHORT_CHUNKS)
    _give_up_once_running(live, engine, meeting.read_bytes())
    wait_until(lambda: live.state.runs.clients == 0, "the server saw the client give up")
    assert live.state.runs.in_flight == 1
    engine.gate.set()  # the batch in the engine may finish; nothing after it may run
    live.stop()
    assert not live.thread.is_alive()
    assert not live.state.spool.path.exists()
    assert live.state.runs.in_flight == 0


def test_the_stream_of_a_cached_result_is_what_a_run_streams(
    served: Callable[..., tuple[LiveServer, WatchedEngine]], audio_dir: Path, tmp_path: Path
) -> None:
    live, _ = served(WatchedEngine, CACHE_MAX_MB=16, CACHE_DIR=tmp_path / "cache")
    files = {"file": ("greeting.wav", (audio_dir / "greeting.wav").read_bytes())}
    data = {"stream": "true", "include[]": "logprobs"}
    url = f"{live.url}/v1/audio/transcriptions"
    fresh = httpx.post(url, data=data, files=files, timeout=60).text
    wait_until(lambda: live.state.runs.in_flight == 0, "the result is stored")
    cached = httpx.post(url, data=data, files=files, timeout=60).text
    assert metric(live, "gigaam_cache_hits") == 1
    events = [json.loads(b.removeprefix("data: ")) for b in cached.split("\n\n") if b.startswith("data: ")]
    assert events[-1]["type"] == "transcript.text.done" and events[-1]["logprobs"]
    assert cached == fresh


def test_an_unusable_cache_dir_leaves_the_server_working_without_a_cache(
    make_server: Callable[..., LiveServer], audio_dir: Path, tmp_path: Path
) -> None:
    not_a_directory = tmp_path / "file"
    not_a_directory.write_bytes(b"")
    live = make_server(DEDUP=True, CACHE_MAX_MB=16, CACHE_DIR=not_a_directory)
    upload = ("weather.wav", (audio_dir / "weather.wav").read_bytes())
    first = live.client().audio.transcriptions.create(model="whisper-1", file=upload)
    assert first.text
    assert metric(live, "gigaam_cache_misses") == 0  # no cache to look in


def test_a_twin_whose_first_request_leaves_the_line_runs_on_its_own(
    served: Callable[..., tuple[LiveServer, WatchedEngine]], audio_dir: Path, client: openai.OpenAI
) -> None:
    """A waits in line, B (the same upload) attaches to A; A's client goes away: B starts the run itself."""
    live, engine = served(gated, MAX_RUNNING=1)
    busy, busy_out = in_thread(
        lambda: live.client().audio.transcriptions.create(
            model="whisper-1", file=("weather.wav", (audio_dir / "weather.wav").read_bytes())
        )
    )
    wait_until(engine.started.is_set, "another request holds the only running slot")
    greeting = (audio_dir / "greeting.wav").read_bytes()
    boundary = b"twinboundary"
    waiting = RawConnection(live.url)
    waiting.send_head(
        "POST",
        "/v1/audio/transcriptions",
        [
            ("Content-Type", f"multipart/form-data; boundary={boundary.decode()}"),
            ("Authorization", "Bearer test-key"),
            ("Content-Length", str(len(body := multipart([file_part(greeting)], boundary)))),
        ],
    )
    waiting.send_body(body)
    wait_until(lambda: gauge(live, "gigaam_queue_length") == 1, "A waits in line")
    twin, twin_out = in_thread(
        lambda: live.client().audio.transcriptions.create(
            model="whisper-1", file=("greeting.wav", greeting), response_format="verbose_json"
        )
    )
    wait_until(lambda: metric(live, "gigaam_dedup_attached") == 1, "B attached to A")
    waiting.close()  # A's client goes away while A still waits for a running slot
    wait_until(
        lambda: gauge(live, "gigaam_queue_length") == 1 and gauge(live, "gigaam_running") == 1,
        "B took A's place in line",
    )
    engine.gate.set()
    twin.join(HANG_GUARD_SECONDS)
    busy.join(HANG_GUARD_SECONDS)
    assert not isinstance(busy_out[0], Exception)
    result = twin_out[0]
    assert isinstance(result, TranscriptionVerbose), result
    expected = client.audio.transcriptions.create(
        model="whisper-1", file=("greeting.wav", greeting), response_format="verbose_json"
    )
    assert result.text == expected.text and result.text


def gauge(live: LiveServer, name: str) -> float:
    """A gauge's value as /metrics reports it."""
    for line in httpx.get(f"{live.url}/metrics", timeout=10).text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} is not in /metrics")
