"""The real console entry point in a subprocess: start-up errors, an hour of audio, SIGTERM."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import psutil
import pytest

from tests.fixtures.processes import Served, free_port, server_env
from tests.fixtures.speech import PAUSES, SAMPLE_RATE, SENTENCES, long_speech


def _cli(command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gigaam_api", command],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.fixture
def serve(models_dir: Path, tmp_path: Path) -> Iterator[Served]:
    port = free_port()
    env = server_env(
        MODELS_DIR=str(models_dir), OFFLINE="true", PORT=str(port), SPOOL_DIR=str(tmp_path / "spool")
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "gigaam_api", "serve"], env=env, stderr=subprocess.PIPE, text=True
    )
    served = Served(process, f"http://127.0.0.1:{port}")
    served.wait_ready()
    yield served
    if process.poll() is None:
        process.kill()
    process.communicate()


def test_missing_weights_offline_exits_with_instructions(tmp_path: Path) -> None:
    env = server_env(MODELS_DIR=str(tmp_path / "models"), OFFLINE="true", PORT=str(free_port()))
    result = _cli("serve", env)
    assert result.returncode == 1
    message = result.stderr
    assert str(tmp_path / "models" / "gigaam-v3-ctc") in message
    for name in ("config.json", "v3_ctc.onnx", "v3_vocab.txt", "make download-weights", "OFFLINE"):
        assert name in message
    assert "Traceback" not in message


def test_unreachable_hub_exits_with_instructions(tmp_path: Path) -> None:
    # A closed local port stands in for the hub, so the test never depends on the network.
    env = server_env(
        MODELS_DIR=str(tmp_path / "models"),
        HF_ENDPOINT=f"http://127.0.0.1:{free_port()}",
        PORT=str(free_port()),
    )
    result = _cli("download", env)
    assert result.returncode == 1
    assert "could not be reached" in result.stderr
    assert "Traceback" not in result.stderr
    leftovers = [p for p in (tmp_path / "models").rglob("*") if p.is_file() and not p.name.endswith(".lock")]
    assert not [p for p in leftovers if p.suffix == ".onnx"], "no partial weights at a final name"


def test_invalid_setting_names_the_variable(tmp_path: Path) -> None:
    env = server_env(QUANTIZATION="int4", MAX_QUEUE="-1")
    result = _cli("serve", env)
    assert result.returncode == 2
    assert "QUANTIZATION" in result.stderr and "MAX_QUEUE" in result.stderr


def test_deprecated_names_still_work_and_are_logged_once_at_start(tmp_path: Path) -> None:
    env = server_env(
        MODELS_DIR=str(tmp_path / "models"),
        OFFLINE="true",
        PORT=str(free_port()),
        QUANTIZATION="none",
        MAX_QUEUE="3",
        RUNTIME="onnxruntime",
    )
    result = _cli("serve", env)
    assert result.returncode == 1, result.stderr  # accepted: the start went on to look for the weights
    assert result.stderr.count("QUANTIZATION is deprecated: set GIGAAM_PRECISION instead") == 1
    assert result.stderr.count("RUNTIME is deprecated: set GIGAAM_RUNTIME instead") == 1
    assert result.stderr.count("MAX_QUEUE is deprecated: set MAX_RUNNING instead") == 1


def test_busy_port_exits_with_a_plain_message(models_dir: Path, tmp_path: Path) -> None:
    with socket.socket() as other_server:
        other_server.bind(("127.0.0.1", 0))
        other_server.listen()
        port = other_server.getsockname()[1]
        env = server_env(
            MODELS_DIR=str(models_dir), OFFLINE="true", PORT=str(port), SPOOL_DIR=str(tmp_path / "spool")
        )
        result = _cli("serve", env)
    assert result.returncode == 4
    assert f"gigaam-api: port {port} is in use: set PORT=… or stop the other server" in result.stderr
    assert "Errno" not in result.stderr and "Traceback" not in result.stderr


def test_first_start_says_ready_with_the_address_once_the_model_is_loaded(
    models_dir: Path, tmp_path: Path
) -> None:
    port = free_port()
    env = server_env(
        MODELS_DIR=str(models_dir),
        OFFLINE="true",
        PORT=str(port),
        SPOOL_DIR=str(tmp_path / "spool"),
        LOG_LEVEL="INFO",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "gigaam_api", "serve"], env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        Served(process, f"http://127.0.0.1:{port}").wait_ready()
    finally:
        process.send_signal(signal.SIGTERM)
        log = process.communicate(timeout=60)[1]
    # The line is logged by the loader before /ready can answer 200, so it is in the log by now.
    ready = [line for line in log.splitlines() if "ready — open" in line]
    assert len(ready) == 1, log
    assert (
        f"ready — open http://127.0.0.1:{port}/ — serving gigaam-v3-ctc on cpu (onnxruntime, fp32, loaded)"
        in ready[0]
    )
    # uvicorn's own "Uvicorn running on …", logged before the model is loaded, is not there to mislead.
    assert "running on" not in log.lower(), log
    assert process.returncode == 0


def _write_long_wav(path: Path, minutes: int) -> float:
    """`minutes` of the meeting speech, written block by block so the test itself stays small."""
    block, _ = long_speech(SENTENCES, [*PAUSES[:-1]])
    block = np.concatenate([block, np.zeros(60 * SAMPLE_RATE - len(block) % (60 * SAMPLE_RATE), np.float32)])
    pcm = (np.clip(block, -1, 1) * 32767).astype("<i2").tobytes()
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        blocks = round(minutes * 60 * SAMPLE_RATE / len(block))
        for _ in range(blocks):
            out.writeframes(pcm)
    return blocks * len(block) / SAMPLE_RATE


@dataclass
class StreamStats:
    peak_rss: int
    running_at_first_segment: int
    segments: int
    done: dict[str, object]


def _stream_and_watch(served: Served, path: Path) -> StreamStats:
    server = psutil.Process(served.process.pid)
    peak = server.memory_info().rss
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, server.memory_info().rss)
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    running_at_first = -1
    segments = 0
    done: dict[str, object] = {}
    with path.open("rb") as upload, httpx.Client(timeout=600) as http:
        files = {"file": ("upload", upload, "application/octet-stream")}
        with http.stream(
            "POST", f"{served.url}/v1/audio/transcriptions", data={"stream": "true"}, files=files
        ) as r:
            assert r.status_code == 200
            for line in r.iter_lines():
                if not line.startswith("data: "):
                    continue
                event = json.loads(line.removeprefix("data: "))
                if event.get("type") == "transcript.text.segment":
                    segments += 1
                    if segments == 1:  # is the server still computing the rest?
                        running_at_first = httpx.get(f"{served.url}/health", timeout=60).json()["running"]
                elif event.get("type") == "transcript.text.done":
                    done = event
    stop.set()
    sampler.join()
    return StreamStats(peak, running_at_first, segments, done)


def test_an_hour_streams_early_with_flat_memory(serve: Served, tmp_path: Path) -> None:
    ten = tmp_path / "ten-minutes.wav"
    hour = tmp_path / "hour.wav"
    _write_long_wav(ten, 10)
    hour_seconds = _write_long_wav(hour, 60)
    short = _stream_and_watch(serve, ten)
    long = _stream_and_watch(serve, hour)
    assert long.done and long.segments > 100  # ~40 s of speech a minute, chunks of 15-22 s
    usage = long.done["usage"]
    assert isinstance(usage, dict)
    assert abs(usage["seconds"] - hour_seconds) < 1
    growth_mb = (long.peak_rss - short.peak_rss) / 2**20
    mb = 2**20
    print(
        f"peak RSS: 10 min {short.peak_rss / mb:.0f} MB, 1 h {long.peak_rss / mb:.0f} MB (+{growth_mb:.1f})"
    )
    # Holding the hour in memory would cost >= 115 MB (int16) or 230 MB (float32); a window-based
    # pipeline stays within a few MB of the ten-minute peak.
    assert growth_mb < 40
    # Segments stream while the rest is computed: when the first arrives, the run is still going
    # (an hour takes many batches; a pipeline that held segments back would have finished).
    assert long.running_at_first_segment == 1


def test_sigterm_lets_running_work_finish(serve: Served, tmp_path: Path) -> None:
    path = tmp_path / "two-minutes.wav"
    _write_long_wav(path, 2)
    events: list[str] = []
    with path.open("rb") as upload, httpx.Client(timeout=120) as http:
        files = {"file": ("upload", upload, "application/octet-stream")}
        with http.stream(
            "POST", f"{serve.url}/v1/audio/transcriptions", data={"stream": "true"}, files=files
        ) as r:
            for line in r.iter_lines():
                if line.startswith("data: "):
                    events.append(json.loads(line.removeprefix("data: "))["type"])
                    if len(events) == 1:
                        serve.process.send_signal(signal.SIGTERM)
    assert events[-1] == "transcript.text.done"
    assert serve.process.wait(timeout=60) == 0
    assert serve.process.stderr is not None
    assert "Traceback" not in serve.process.stderr.read()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{serve.url}/health", timeout=2)
