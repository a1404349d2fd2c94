"""/ws/transcribe, the Qwen3-ASR server's simple protocol: raw PCM16 16 kHz frames in, JSON results out.

Audio goes in 100-ms frames without sleeping; the tests wait for the server's messages only."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest
from starlette.testclient import WebSocketDenialResponse
from starlette.websockets import WebSocketDisconnect
from websockets.sync.client import ClientConnection, connect

from tests.fixtures.app_server import AppServer
from tests.fixtures.live_server import LiveServer
from tests.fixtures.realtime import RECV_LIMIT, chunks, pcm16
from tests.fixtures.speech import long_speech, synthesize, trim_silence, write_wav

PHRASES = ["Добрый день, коллеги.", "Есть ли вопросы?"]


@contextmanager
def simple(live: LiveServer) -> Iterator[ClientConnection]:
    with connect(live.url.replace("http", "ws") + "/ws/transcribe", max_queue=None) as ws:  # see realtime()
        ready = receive(ws)
        assert ready == {"type": "ready", "status": "connected", "sample_rate": 16000, "format": "pcm_s16le"}
        yield ws


def receive(ws: ClientConnection) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(ws.recv(timeout=RECV_LIMIT))
    return message


def until(ws: ClientConnection, kind: str) -> list[dict[str, Any]]:
    got = [receive(ws)]
    while got[-1]["type"] != kind:
        got.append(receive(ws))
    return got


def send_audio(ws: ClientConnection, pcm: bytes) -> None:
    for piece in chunks(pcm, 16_000):
        ws.send(piece)


def test_finals_at_pauses_equal_the_batch_transcript_of_the_same_audio(
    server: LiveServer, tmp_path: Any
) -> None:
    audio, _ = long_speech(PHRASES, [0.4, 1.5, 1.5])
    pcm = pcm16(audio)
    with simple(server) as ws:
        send_audio(ws, pcm)
        finals = [m for m in until(ws, "final") if m["type"] == "final"]
        finals += [m for m in until(ws, "final") if m["type"] == "final"]
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768
    client = server.client()
    for final in finals:
        assert set(final) == {"type", "item_id", "text", "start", "end", "is_partial", "is_final"}
        assert final["is_final"] and not final["is_partial"]
        span = samples[round(final["start"] * 16000) : round(final["end"] * 16000)]
        path = write_wav(tmp_path / f"{final['item_id']}.wav", span)
        batch = client.audio.transcriptions.create(model="whisper-1", file=path)
        assert final["text"] == batch.text  # the whole utterance in one pass, as an upload of it
    assert finals[0]["end"] < finals[1]["start"]


def test_flush_reset_and_config(server: LiveServer) -> None:
    speech = pcm16(trim_silence(synthesize(PHRASES[0])))
    with simple(server) as ws:
        ws.send(json.dumps({"type": "config", "vad": False, "language": "ru"}))
        config = receive(ws)
        assert config == {
            "type": "config",
            "model": "gigaam-v3-ctc",
            "language": "ru",
            "vad": False,
            "threshold": None,
            "silence_duration_ms": None,
            "prefix_padding_ms": None,
        }
        send_audio(ws, speech)
        ws.send(json.dumps({"action": "reset"}))  # the Qwen3-ASR server's spelling
        # Partials of that audio may come before the answer (they run while it arrives): how many is timing.
        before_reset = until(ws, "reset")
        assert before_reset[-1] == {"type": "reset"}
        assert all(m["type"] == "partial" for m in before_reset[:-1])
        ws.send(json.dumps({"type": "flush"}))
        empty = until(ws, "final")[-1]
        assert (empty["text"], empty["item_id"]) == ("", None)  # the reset dropped it all
        send_audio(ws, speech + bytes(32_000))  # no VAD: a pause ends nothing
        ws.send(json.dumps({"type": "flush"}))
        flushed = until(ws, "final")
        final = flushed[-1]
        assert final["text"]
        assert final["end"] - final["start"] == pytest.approx((len(speech) + 32_000) / 2 / 16000, abs=0.01)
        assert all(m["type"] == "partial" for m in flushed[:-1])


def test_errors_keep_the_socket_open(server: LiveServer) -> None:
    with simple(server) as ws:
        ws.send("{broken")
        ws.send(json.dumps({"type": "dance"}))
        ws.send(json.dumps({"type": "config", "speed": 2}))
        ws.send(json.dumps({"type": "config", "threshold": 7}))
        errors = [receive(ws) for _ in range(4)]
        ws.send(json.dumps({"type": "flush"}))
        assert receive(ws)["type"] == "final"
    assert [e["type"] for e in errors] == ["error"] * 4
    assert [e["error"]["param"] for e in errors] == [None, "type", "speed", "threshold"]
    assert all(set(e["error"]) == {"message", "type", "param", "code"} for e in errors)


def test_the_key_is_checked_as_for_http(make_app_server: Callable[..., AppServer]) -> None:
    live = make_app_server(API_KEY="k1")
    with pytest.raises(WebSocketDenialResponse) as denied, live.http.websocket_connect("/ws/transcribe"):
        pass
    assert denied.value.status_code == 401
    assert denied.value.json()["error"]["code"] == "invalid_api_key"
    with live.http.websocket_connect("/ws/transcribe", headers={"Authorization": "Bearer k1"}) as ws:
        assert ws.receive_json()["type"] == "ready"
    with live.http.websocket_connect("/ws/transcribe", subprotocols=["openai-insecure-api-key.k1"]) as ws:
        assert ws.receive_json()["type"] == "ready"


def test_silence_faster_than_real_time_is_refused(make_app_server: Callable[..., AppServer]) -> None:
    """The pace rule holds for silence, which never fills the transcription backlog: 10 s in one frame is
    10 s ahead of real time at once, past a 5-s allowance (no clock involved: it is the first audio)."""
    live = make_app_server(LIVE_MAX_BACKLOG_SECONDS=5)
    with live.http.websocket_connect("/ws/transcribe") as ws:
        assert ws.receive_json()["type"] == "ready"
        ws.send_bytes(bytes(10 * 16000 * 2))
        ws.send_text(json.dumps({"type": "flush"}))  # the old server answered this final instead
        refused = ws.receive_json()
        assert refused["type"] == "error", refused
        assert refused["error"]["code"] == "input_audio_buffer_overflow"
        assert "real time" in refused["error"]["message"]
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 1008
