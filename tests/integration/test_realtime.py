"""/v1/realtime: OpenAI's transcription sessions, driven by the official `openai` client against a real
server, every server event strictly validated against the client's types (tests/fixtures/realtime.py).

Audio goes in 100-ms chunks without sleeping: what the tests wait for are the server's events (and,
for the lane test, the gated engine's batches), never the clock."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import websockets
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import WebSocketDenialResponse
from starlette.websockets import WebSocketDisconnect
from websockets.sync.client import connect

from tests.fixtures.app_server import AppServer
from tests.fixtures.engines import SHORT_CHUNKS, SteppedEngine
from tests.fixtures.jobs import submit
from tests.fixtures.live_server import LiveServer
from tests.fixtures.realtime import chunks, pcm16, realtime, strict
from tests.fixtures.speech import SENTENCES, long_speech, synthesize, trim_silence
from tests.fixtures.threads import in_thread
from tests.fixtures.waiting import wait_until

PHRASES = ["Добрый день, коллеги.", "Сегодня мы обсудим план работ.", "Есть ли вопросы?"]
VAD = {"turn_detection": {"type": "server_vad", "silence_duration_ms": 400, "prefix_padding_ms": 200}}
MANUAL = {"audio": {"input": {"turn_detection": None}}}


def vad_session() -> dict[str, Any]:
    return {"audio": {"input": VAD}}


def utterances(pauses: list[float]) -> bytes:
    audio, _ = long_speech(PHRASES[: len(pauses) - 1], pauses)
    return pcm16(audio, 24_000)


def metric(live: LiveServer, name: str, **labels: str) -> float:
    text = httpx.get(f"{live.url}/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == f"{name}_total" and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


def test_utterances_between_pauses_come_back_as_separate_completed_items(server: LiveServer) -> None:
    with realtime(server.client(), **vad_session()) as events:
        for piece in chunks(utterances([0.4, 1.5, 1.5, 1.5])):
            events.append(piece)
        seen = events.until("conversation.item.input_audio_transcription.completed", count=3)

    per_item = [
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        "conversation.item.added",
        "conversation.item.input_audio_transcription.completed",
    ]
    items = [e.item_id for e in seen if e.type == "input_audio_buffer.speech_started"]
    for item in items:  # an utterance's events come in order (the next one may start before its final)
        mine = [e.type for e in seen if _item_of(e) == item and e.type in per_item]
        assert mine == per_item
    committed = [e for e in seen if e.type == "input_audio_buffer.committed"]
    completed = [e for e in seen if e.type == "conversation.item.input_audio_transcription.completed"]
    assert [e.item_id for e in completed] == [e.item_id for e in committed]
    assert len({e.item_id for e in committed}) == 3
    assert committed[0].previous_item_id is None
    assert [e.previous_item_id for e in committed[1:]] == [e.item_id for e in committed[:2]]
    assert all(e.transcript for e in completed)
    assert all(e.usage.type == "duration" and e.usage.seconds > 0.5 for e in completed)
    started = [e.audio_start_ms for e in seen if e.type == "input_audio_buffer.speech_started"]
    stopped = [e.audio_end_ms for e in seen if e.type == "input_audio_buffer.speech_stopped"]
    assert started[0] < stopped[0] < started[1] < stopped[1] < started[2] < stopped[2]


def _item_of(event: Any) -> str | None:
    item = getattr(event, "item_id", None)
    return item if item is not None else getattr(getattr(event, "item", None), "id", None)


def test_manual_commit_with_turn_detection_null(server: LiveServer) -> None:
    speech = pcm16(trim_silence(synthesize(PHRASES[0])), 24_000)
    with realtime(server.client(), **MANUAL) as events:
        events.send({"type": "input_audio_buffer.commit", "event_id": "evt_empty"})
        error = events.next()
        assert (error.type, error.error.code, error.error.event_id) == (
            "error",
            "input_audio_buffer_commit_empty",
            "evt_empty",
        )
        for piece in chunks(speech + bytes(48_000)):  # a pause changes nothing without turn detection
            events.append(piece)
        for piece in chunks(speech):
            events.append(piece)
        events.send({"type": "input_audio_buffer.commit"})
        seen = events.until("conversation.item.input_audio_transcription.completed")

    kinds = [e.type for e in seen]
    assert "input_audio_buffer.speech_started" not in kinds
    assert kinds.count("input_audio_buffer.committed") == 1
    completed = seen[-1]
    assert completed.usage.seconds == pytest.approx((2 * len(speech) + 48_000) / 2 / 24_000, abs=0.01)
    assert completed.transcript


def test_session_fields_this_server_cannot_honour_are_errors_not_ignored(server: LiveServer) -> None:
    """OpenAI's `idle_timeout_ms` (a model response after silence) and fields it does not know get an
    `error` naming them; the response switches, meaningless here, are taken; the session goes on."""
    vad: dict[str, Any] = {"type": "server_vad", "create_response": True, "interrupt_response": False}
    with realtime(
        server.client(), audio={"input": {"turn_detection": {**vad, "idle_timeout_ms": None}}}
    ) as events:
        for session in (
            {"audio": {"input": {"turn_detection": {**vad, "idle_timeout_ms": 5000}}}},
            {"turn_detection": None},  # the beta API's place for it
            {"audio": {"input": {"transcription": {"keywords": ["Сбер"]}}}},
        ):
            events.connection.session.update(session={"type": "transcription", **session})  # type: ignore[arg-type]
        errors = [events.next() for _ in range(3)]
        events.send({"type": "session.update", "session": {"type": "transcription", **MANUAL}})
        updated = events.next()

    assert [(e.type, e.error.code, e.error.param) for e in errors] == [
        ("error", "unsupported_value", "session.audio.input.turn_detection.idle_timeout_ms"),
        ("error", "unknown_parameter", "session.turn_detection"),
        ("error", "unsupported_value", "session.audio.input.transcription.keywords"),
    ]
    assert updated.type == "session.updated"


def test_partials_arrive_while_speaking(server: LiveServer) -> None:
    # Long enough that the last partial before the pause in sending has more than one word: the last
    # word of a hypothesis is held back (it may be cut), and the partials' points do not depend on timing.
    speech = pcm16(trim_silence(synthesize(SENTENCES[1])), 24_000)
    head, tail = speech[: len(speech) * 2 // 3], speech[len(speech) * 2 // 3 :]
    with realtime(server.client(), **vad_session()) as events:
        for piece in chunks(bytes(9_600) + head):
            events.append(piece)
        # No more audio until a partial comes: the utterance is still open, so it can only be a partial.
        before = events.until("conversation.item.input_audio_transcription.delta")
        for piece in chunks(tail + bytes(72_000)):
            events.append(piece)
        after = events.until("conversation.item.input_audio_transcription.completed")

    kinds = [e.type for e in before]
    assert "input_audio_buffer.speech_started" in kinds
    assert "input_audio_buffer.speech_stopped" not in kinds
    delta = before[-1]
    assert delta.delta and delta.item_id == after[-1].item_id
    deltas = "".join(e.delta for e in before + after if e.type.endswith(".delta"))
    assert deltas.split() and all(word in after[-1].transcript.split() for word in deltas.split())


def test_bad_events_get_error_events_and_the_socket_lives_on(server: LiveServer) -> None:
    with realtime(server.client()) as events:
        raw = events.connection._connection
        raw.send("{not json")
        raw.send(json.dumps({"type": "response.create", "event_id": "e1"}))
        raw.send(
            json.dumps({"type": "input_audio_buffer.append", "audio": "@@not base64@@", "event_id": "e2"})
        )
        raw.send(
            json.dumps(
                {
                    "type": "session.update",
                    "event_id": "e3",
                    "session": {
                        "type": "transcription",
                        "audio": {"input": {"format": {"type": "audio/pcm", "rate": 44100}}},
                    },
                }
            )
        )
        language = {"type": "transcription", "audio": {"input": {"transcription": {"language": "xx"}}}}
        raw.send(json.dumps({"type": "session.update", "session": language}))
        raw.send(json.dumps(["not", "an", "event"]))
        raw.send(b"\x00\x01 binary")
        errors = [events.next() for _ in range(7)]
        events.send({"type": "session.update", "session": {"type": "transcription", **MANUAL}})
        updated = events.next()

    assert [e.type for e in errors] == ["error"] * 7
    assert [(e.error.code, e.error.param, e.error.event_id) for e in errors] == [
        ("invalid_json", None, None),
        ("invalid_event_type", "type", "e1"),
        ("invalid_base64", "audio", "e2"),
        ("invalid_value", "session.audio.input.format.rate", "e3"),
        (errors[4].error.code, "session.audio.input.transcription.language", None),
        ("invalid_event", "type", None),
        ("invalid_frame", None, None),
    ]
    assert all(e.error.type == "invalid_request_error" and e.error.message for e in errors)
    assert updated.type == "session.updated"
    assert updated.session.audio.input.turn_detection is None


def test_a_disconnect_mid_utterance_loses_nothing(
    server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    speech = pcm16(trim_silence(synthesize(PHRASES[1])), 24_000)
    before = metric(server, "gigaam_live_utterances", delivered="no")
    caplog.set_level(logging.DEBUG, logger="gigaam_api.api.live_socket")
    with realtime(server.client(), **vad_session()) as events:
        for piece in chunks(bytes(9_600) + speech[: len(speech) // 2]):
            events.append(piece)
        item = events.until("input_audio_buffer.speech_started")[-1].item_id
    # The client is gone mid-utterance; the server transcribes what it had and reports it.
    wait_until(
        lambda: metric(server, "gigaam_live_utterances", delivered="no") > before, "the buffer is transcribed"
    )
    texts = [
        r.getMessage()
        for r in caplog.records
        if item in r.getMessage() and "after the client left" in r.getMessage()
    ]
    assert any(t.endswith("characters)") for t in texts)
    spoken = next(t for t in texts if t.startswith(f"live {item} after the client left: "))
    assert spoken.split(": ", 1)[1].strip()


def test_the_session_cap_refuses_clearly(make_server: Callable[..., LiveServer]) -> None:
    live = make_server(LIVE_MAX_SESSIONS=1)
    first = realtime(live.client())
    second = live.client().realtime.connect(model="x", extra_query={"intent": "transcription"})
    with first, second as refused:
        refusal = strict(refused._connection.recv(timeout=60, decode=False))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            refused._connection.recv(timeout=60)
    assert (refusal.type, refusal.error.code, refusal.error.type) == (
        "error",
        "too_many_sessions",
        "server_error",
    )
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
    with realtime(live.client()) as again:  # the slot came back
        assert again.seen[0].type == "session.created"


def test_keys_subprotocols_and_client_secrets(make_server: Callable[..., LiveServer]) -> None:
    live = make_server(API_KEY="k1,k2")
    url = live.url.replace("http", "ws") + "/v1/realtime?intent=transcription"
    with pytest.raises(websockets.InvalidStatus) as refused:
        connect(url).close()
    assert refused.value.response.status_code == 401
    assert json.loads(refused.value.response.body)["error"]["code"] == "invalid_api_key"
    with pytest.raises(websockets.InvalidStatus) as wrong, realtime(live.client(api_key="wrong")):
        pass
    assert wrong.value.response.status_code == 401

    with realtime(live.client(api_key="k2")) as events:  # the header, as the official client sends it
        assert events.seen[0].type == "session.created"
    # A browser: the key in the subprotocol; the server picks `realtime`, never echoes the key.
    with connect(url, subprotocols=["realtime", "openai-insecure-api-key.k1"]) as browser:  # type: ignore[list-item]
        assert browser.subprotocol == "realtime"
        assert strict(browser.recv(timeout=60)).type == "session.created"

    secret = live.client(api_key="k1").realtime.client_secrets.create(
        session={"type": "transcription", "audio": {"input": {"turn_detection": None}}},
        expires_after={"anchor": "created_at", "seconds": 60},
    )
    assert secret.value.startswith("ek_")
    assert secret.session.type == "transcription"
    with connect(url, subprotocols=["realtime", f"openai-insecure-api-key.{secret.value}"]) as browser:  # type: ignore[list-item]
        created = strict(browser.recv(timeout=60))
        assert created.session.audio.input.turn_detection is None  # the secret's session
    with realtime(live.client(api_key=secret.value)) as events:
        assert events.seen[0].session.audio.input.turn_detection is None
    with pytest.raises(websockets.InvalidStatus):
        connect(url, subprotocols=["realtime", f"openai-insecure-api-key.{secret.value[:-3]}xyz"]).close()  # type: ignore[list-item]


def test_live_audio_goes_before_a_running_batch_job(
    served: Callable[..., tuple[LiveServer, Any]], meeting: Path
) -> None:
    """With the engine stepped batch by batch: a job's batch runs, a long upload's batch waits, then a live
    commit; the very next batch the engine runs is the live one (the scheduler's interactive lane), though
    the upload's was queued first."""
    live, engine = served(SteppedEngine, LIVE_PARTIAL_SECONDS=1000, **SHORT_CHUNKS)
    assert isinstance(engine, SteppedEngine)
    scheduler = live.state.transcriber.by_model["gigaam-v3-ctc"]._parts.scheduler  # type: ignore[union-attr]

    def waiting(interactive: bool) -> int:
        return sum(len(t.pending) for t in list(scheduler._tickets) if t.interactive == interactive)

    job = submit(live.url, meeting)
    wait_until(lambda: engine.entered == 1, "the job's first batch runs")
    upload, _ = in_thread(lambda: live.client().audio.transcriptions.create(model="whisper-1", file=meeting))
    wait_until(lambda: waiting(interactive=False) >= 1, "the upload's first batch waits")
    speech = pcm16(trim_silence(synthesize(PHRASES[2]))[: 3 * 8000], 24_000)  # 1.5 s
    with realtime(live.client(), **MANUAL) as events:
        for piece in chunks(speech):
            events.append(piece)
        events.send({"type": "input_audio_buffer.commit"})
        events.until("input_audio_buffer.committed")
        wait_until(lambda: waiting(interactive=True) == 1, "the final waits on the lane")
        engine.step()  # the job's running batch ends; the scheduler picks the next one
        wait_until(lambda: engine.entered == 2, "the next batch starts")
        engine.step()
        completed = events.until("conversation.item.input_audio_transcription.completed")[-1]
    assert engine.batches[1] == [len(speech) // 2 * 2 // 3]  # the live utterance ran second
    assert completed.transcript
    assert httpx.get(f"{live.url}/v1/jobs/{job['id']}", timeout=10).json()["status"] == "running"
    engine.step(1000)
    upload.join(timeout=120)


def test_no_intent_is_refused(server: LiveServer) -> None:
    with pytest.raises(websockets.InvalidStatus) as refused:
        connect(server.url.replace("http", "ws") + "/v1/realtime?model=gpt-4o-transcribe").close()
    assert refused.value.response.status_code == 400
    assert json.loads(refused.value.response.body)["error"]["param"] == "intent"


def test_audio_goes_in_as_base64_of_pcm16(server: LiveServer) -> None:
    """The wire format, without the client's helpers: a session as a plain WebSocket client writes it."""
    speech = pcm16(
        np.concatenate([trim_silence(synthesize(PHRASES[0])), np.zeros(24_000, np.float32)]), 24_000
    )
    url = server.url.replace("http", "ws") + "/v1/realtime?intent=transcription"
    with connect(url) as ws:
        assert strict(ws.recv(timeout=60)).type == "session.created"
        for piece in chunks(speech):
            ws.send(
                json.dumps({"type": "input_audio_buffer.append", "audio": base64.b64encode(piece).decode()})
            )
        while (
            event := strict(ws.recv(timeout=60))
        ).type != "conversation.item.input_audio_transcription.completed":
            pass
    assert event.transcript


def test_limits_end_a_session_clearly(make_app_server: Callable[..., AppServer]) -> None:
    """An idle socket is closed with `idle_timeout`; live transcription can be turned off."""
    idle = make_app_server(LIVE_IDLE_SECONDS=0.2)
    with idle.http.websocket_connect("/v1/realtime?intent=transcription") as ws:
        assert strict(ws.receive_text()).type == "session.created"
        ended = strict(ws.receive_text())  # nothing sent: the server gives up waiting
        assert (ended.type, ended.error.code) == ("error", "idle_timeout")
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
        assert closed.value.code == 1008

    off = make_app_server(LIVE_MAX_SESSIONS=0)
    with pytest.raises(WebSocketDenialResponse) as denied, off.http.websocket_connect("/ws/transcribe"):
        pass
    assert denied.value.status_code == 503
    assert denied.value.json()["error"]["code"] == "live_disabled"


def test_no_client_secret_when_live_transcription_is_off(make_app_server: Callable[..., AppServer]) -> None:
    """A secret that could open no socket is refused with the socket's own error, not minted."""
    off = make_app_server(LIVE_MAX_SESSIONS=0)
    refused = off.http.post("/v1/realtime/client_secrets", json={"session": {"type": "transcription"}})
    assert refused.status_code == 503
    assert refused.json()["error"]["code"] == "live_disabled"
    assert "LIVE_MAX_SESSIONS=0" in refused.json()["error"]["message"]


def test_client_secret_requests_are_checked(app_server: AppServer) -> None:
    for body, param in [
        ({"expires_after": {"seconds": 5}}, "expires_after.seconds"),
        ({"session": {"type": "realtime"}}, "session.type"),
        (
            {"session": {"type": "transcription", "audio": {"input": {"transcription": {"model": "nope"}}}}},
            "model",
        ),
    ]:
        response = app_server.http.post("/v1/realtime/client_secrets", json=body)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["param"] == param
