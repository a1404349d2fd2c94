"""Live transcription on this machine: `/v1/realtime` and `/ws/transcribe` of a real `gigaam-api serve`.

On the compute-equivalent GigaAM v3 CTC (random weights, bench/model.py), with the server's defaults:

* idle server, 5-s utterances sent at real time in 100-ms frames: the time from the last audio frame of
  an utterance to its `completed` event, with a manual commit right after that frame (the server's own
  part) and with server VAD (which first waits `silence_duration_ms`, 500 ms, to be sure speech ended);
  the time from the first speech frame to the first partial (`/ws/transcribe`'s `partial`, the first
  hypothesis) and to the first realtime `delta` (which holds back a hypothesis's last word);
* the same while a 1-hour batch job runs;
* how many sessions at once keep up with real time (every final before the next utterance could end),
  with their final latencies;
* the character edit rate of the live finals (a 2-minute recording streamed with server VAD) against the
  batch transcript of the same file. Random weights make the text depend on every chunk boundary, so
  this bounds, from above, what real weights would show.

    python -m bench.realtime [--cache DIR] [--json docs/realtime-bench.json] [--utterances 5]
                             [--phases idle,edit,sessions,job]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import statistics
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from websockets.asyncio.client import ClientConnection, connect

from bench.common import SAMPLE_RATE, cache_dir, machine_info, write_json
from bench.fidelity import edit_distance
from bench.model import ensure_model
from bench.recordings import SENTENCES, recording
from bench.service import serve
from tests.fixtures.speech import synthesize, trim_silence

FRAME_SECONDS = 0.1
UTTERANCE_SECONDS = 5.0
PAUSE_SECONDS = 1.5
# Sessions keep up with real time when every final comes before the speaker could have finished the
# next utterance (a pause and an utterance later): then nothing piles up, however long they talk.
KEEP_UP_SECONDS = PAUSE_SECONDS + UTTERANCE_SECONDS


def utterance_pcm() -> bytes:
    """Five seconds of speech (sentences joined by 0.2-s gaps, which server VAD does not take as ends)."""
    gap = np.zeros(int(0.2 * SAMPLE_RATE), np.float32)
    parts = [p for s in SENTENCES[1:4] for p in (trim_silence(synthesize(s)), gap)]
    speech = np.concatenate(parts)[: int(UTTERANCE_SECONDS * SAMPLE_RATE)]
    return (np.clip(speech, -1, 1) * 32767).astype("<i2").tobytes()


def frames(pcm: bytes) -> list[bytes]:
    size = int(FRAME_SECONDS * SAMPLE_RATE) * 2
    return [pcm[i : i + size] for i in range(0, len(pcm), size)]


@dataclass
class Timings:
    completed_after_end: list[float] = field(default_factory=list)  # last speech frame -> completed
    completed_after_stop: list[float] = field(default_factory=list)  # speech_stopped -> completed
    first_delta: list[float] = field(default_factory=list)  # first speech frame -> first realtime delta
    finals: list[str] = field(default_factory=list)


async def realtime_session(url: str, *, manual: bool, utterances: int, pcm: bytes) -> Timings:
    """`utterances` times: a pause, then the utterance at real time (then a commit, if `manual`)."""
    timings = Timings()
    ws_url = url.replace("http", "ws") + "/v1/realtime?intent=transcription"
    async with connect(ws_url, max_size=None, ping_interval=None) as ws:
        await ws.recv()
        turns = None if manual else {"type": "server_vad"}
        session = {
            "type": "transcription",
            "audio": {"input": {"format": {"type": "audio/pcm", "rate": 16000}, "turn_detection": turns}},
        }
        await ws.send(json.dumps({"type": "session.update", "session": session}))
        marks: dict[str, float] = {}
        done = asyncio.Event()
        receiver = asyncio.create_task(_receive(ws, marks, timings, done))
        silence = bytes(int(PAUSE_SECONDS * SAMPLE_RATE) * 2)
        for _ in range(utterances):
            done.clear()
            marks.clear()
            await _send_realtime(ws, frames(silence))
            marks["speech_start"] = time.monotonic()
            await _send_realtime(ws, frames(pcm))
            marks["speech_end"] = time.monotonic()
            if manual:
                await ws.send(json.dumps({"type": "input_audio_buffer.commit"}))
            else:
                await _send_realtime(ws, frames(silence), until=done)
            await done.wait()
        receiver.cancel()
    return timings


async def _send_realtime(
    ws: ClientConnection, pieces: list[bytes], *, until: asyncio.Event | None = None
) -> None:
    began = time.monotonic()
    for index, piece in enumerate(pieces):
        if until is not None and until.is_set():
            return
        await ws.send(
            json.dumps({"type": "input_audio_buffer.append", "audio": base64.b64encode(piece).decode()})
        )
        await asyncio.sleep(max(0.0, began + (index + 1) * FRAME_SECONDS - time.monotonic()))


async def _receive(
    ws: ClientConnection, marks: dict[str, float], timings: Timings, done: asyncio.Event
) -> None:
    async for raw in ws:
        event = json.loads(raw)
        now = time.monotonic()
        kind = event["type"]
        if kind == "conversation.item.input_audio_transcription.delta" and "delta" not in marks:
            marks["delta"] = now
            timings.first_delta.append(now - marks["speech_start"])
        elif kind == "input_audio_buffer.speech_stopped":
            marks["stopped"] = now
        elif kind == "conversation.item.input_audio_transcription.completed":
            timings.completed_after_end.append(now - marks["speech_end"])
            if "stopped" in marks:
                timings.completed_after_stop.append(now - marks["stopped"])
            timings.finals.append(event["transcript"])
            done.set()
        elif kind == "error":
            raise RuntimeError(event["error"])


async def first_partials(url: str, *, utterances: int, pcm: bytes) -> list[float]:
    """/ws/transcribe: first speech frame -> first `partial` (any text) of each utterance."""
    found: list[float] = []
    async with connect(url.replace("http", "ws") + "/ws/transcribe", max_size=None, ping_interval=None) as ws:
        await ws.recv()
        silence = bytes(int(PAUSE_SECONDS * SAMPLE_RATE) * 2)
        for _ in range(utterances):
            first = asyncio.get_running_loop().create_future()
            final = asyncio.get_running_loop().create_future()

            async def listen(first: asyncio.Future[float], final: asyncio.Future[None]) -> None:
                async for raw in ws:
                    message = json.loads(raw)
                    if message["type"] == "partial" and message["text"] and not first.done():
                        first.set_result(time.monotonic())
                    if message["type"] == "final":
                        final.set_result(None)
                        return

            listener = asyncio.create_task(listen(first, final))
            await _send_raw(ws, frames(silence))
            began = time.monotonic()
            await _send_raw(ws, frames(pcm))
            await ws.send(json.dumps({"type": "flush"}))
            await final
            await listener
            if first.done():
                found.append(first.result() - began)
    return found


async def _send_raw(ws: ClientConnection, pieces: list[bytes]) -> None:
    began = time.monotonic()
    for index, piece in enumerate(pieces):
        await ws.send(piece)
        await asyncio.sleep(max(0.0, began + (index + 1) * FRAME_SECONDS - time.monotonic()))


def summary(values: list[float]) -> dict[str, float | int]:
    if not values:
        return {"n": 0}
    ordered = sorted(values)
    return {
        "n": len(values),
        "median": round(statistics.median(values), 3),
        "p90": round(ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))], 3),
        "max": round(ordered[-1], 3),
    }


def batch_request_seconds(url: str, pcm: bytes, runs: int) -> list[float]:
    """The same 5-s utterance as a plain upload: what the machine takes for it right now (a reference for
    the live figures on a shared, loaded machine)."""
    header = io.BytesIO()
    with wave.open(header, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(pcm)
    seconds = []
    for _ in range(runs):
        began = time.monotonic()
        response = httpx.post(
            f"{url}/v1/audio/transcriptions", files={"file": ("u.wav", header.getvalue())}, timeout=600
        )
        response.raise_for_status()
        seconds.append(time.monotonic() - began)
    return seconds


async def latency_figures(url: str, utterances: int, pcm: bytes) -> dict[str, Any]:
    batch = await asyncio.to_thread(batch_request_seconds, url, pcm, utterances)
    manual = await realtime_session(url, manual=True, utterances=utterances, pcm=pcm)
    vad = await realtime_session(url, manual=False, utterances=utterances, pcm=pcm)
    partials = await first_partials(url, utterances=utterances, pcm=pcm)
    return {
        "completed_after_last_frame_manual_commit_s": summary(manual.completed_after_end),
        "completed_after_last_frame_server_vad_s": summary(vad.completed_after_end),
        "completed_after_speech_stopped_s": summary(vad.completed_after_stop),
        "first_partial_after_speech_start_s": summary(partials),
        "first_realtime_delta_after_speech_start_s": summary(manual.first_delta + vad.first_delta),
        "batch_request_of_the_same_utterance_s": summary(batch),
    }


async def concurrency(url: str, pcm: bytes, most: int) -> dict[str, Any]:
    """Sessions at once, 2 manual utterances each; the largest count whose every final came in time
    (KEEP_UP_SECONDS)."""
    results: dict[str, Any] = {}
    held = 0
    for sessions in (1, 2, 4, 6, 8, 12, 16):
        if sessions > most:
            break
        runs = await asyncio.gather(
            *(realtime_session(url, manual=True, utterances=2, pcm=pcm) for _ in range(sessions))
        )
        latencies = [v for run in runs for v in run.completed_after_end]
        results[str(sessions)] = summary(latencies)
        if max(latencies) > KEEP_UP_SECONDS:
            break
        held = sessions
    return {"sessions_kept_up": held, "final_latency_by_sessions": results}


async def edit_rate(url: str, path: Path) -> dict[str, Any]:
    """Live finals of the whole recording (`/ws/transcribe`, server VAD, sent at 8x real time) against
    its batch transcript. Two flushes end it: the second always finds nothing, and its empty `final`
    comes after every other."""
    with wave.open(str(path), "rb") as f:
        pcm = f.readframes(f.getnframes())
    finals: list[str] = []

    async def collect(ws: ClientConnection) -> None:
        async for raw in ws:
            message = json.loads(raw)
            if message["type"] == "final" and message["item_id"] is None and finals:
                return
            if message["type"] == "final" and message["text"]:
                finals.append(message["text"])

    async with connect(url.replace("http", "ws") + "/ws/transcribe", max_size=None, ping_interval=None) as ws:
        await ws.recv()
        reader = asyncio.create_task(collect(ws))  # read while sending: results must not back up
        began = time.monotonic()
        for index, piece in enumerate(frames(pcm)):
            await ws.send(piece)
            await asyncio.sleep(max(0.0, began + (index + 1) * FRAME_SECONDS / 8 - time.monotonic()))
        await ws.send(json.dumps({"type": "flush"}))
        await ws.send(json.dumps({"type": "flush"}))
        await reader
    with path.open("rb") as upload:
        answer = httpx.post(f"{url}/v1/audio/transcriptions", files={"file": upload}, timeout=3600)
    batch = answer.json()["text"]
    live = " ".join(finals)
    return {
        "utterances": len(finals),
        "batch_chars": len(batch),
        "char_edit_rate": round(edit_distance(batch, live) / max(1, len(batch)), 4),
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    cache = cache_dir(args.cache)
    built = ensure_model(cache)
    pcm = utterance_pcm()
    long_job = recording(cache, 60)
    short = recording(cache, 2)
    figures: dict[str, Any] = {"machine": machine_info(args.threads)}
    # ONNX Runtime int8, the configuration every machine can start at once (`auto` may first build an
    # int8-static OpenVINO IR, minutes of NNCF calibration: docs/int8.md).
    runtime = {"GIGAAM_RUNTIME": args.runtime, "GIGAAM_PRECISION": args.precision}
    figures["server"] = runtime
    # The edit-rate phase streams a 2-minute recording at 8x real time: past the default 60 s that audio
    # may run ahead of real time (LIVE_MAX_BACKLOG_SECONDS).
    live_limits = {"LIVE_MAX_SESSIONS": "32", "LIVE_MAX_BACKLOG_SECONDS": "3600"}
    with serve(built.path.parent, threads=args.threads, **live_limits, **runtime) as server:
        url = server.url
        if "idle" in args.phases:
            figures["idle"] = await latency_figures(url, args.utterances, pcm)
            print(json.dumps(figures["idle"], indent=1), flush=True)
        if "edit" in args.phases:
            figures["edit_rate"] = await edit_rate(url, short)
            print(json.dumps(figures["edit_rate"]), flush=True)
        if "sessions" in args.phases:
            figures["concurrency"] = await concurrency(url, pcm, args.max_sessions)
            print(json.dumps(figures["concurrency"]), flush=True)
        if "job" not in args.phases:
            return figures
        with long_job.open("rb") as f:
            job = httpx.post(f"{url}/v1/jobs", files={"file": f}, timeout=600).json()
        while httpx.get(f"{url}/v1/jobs/{job['id']}", timeout=30).json()["status"] != "running":
            await asyncio.sleep(0.5)
        figures["during_1h_job"] = await latency_figures(url, args.utterances, pcm)
        print(json.dumps(figures["during_1h_job"], indent=1), flush=True)
        status = httpx.get(f"{url}/v1/jobs/{job['id']}", timeout=30).json()["status"]
        figures["during_1h_job"]["job_still_running_at_end"] = status == "running"
        httpx.delete(f"{url}/v1/jobs/{job['id']}", timeout=30)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cache", type=Path)
    parser.add_argument("--json", type=Path, default=Path("docs/realtime-bench.json"))
    parser.add_argument("--utterances", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-sessions", type=int, default=8)
    parser.add_argument("--runtime", default="onnxruntime")
    parser.add_argument("--phases", default="idle,edit,sessions,job", help="which figures to measure")
    parser.add_argument("--precision", default="int8")
    args = parser.parse_args()
    figures = asyncio.run(main_async(args))
    machine = figures["machine"]
    flags = " ".join(machine["cpu_instruction_sets"])
    print(f"cpu: {machine['cpu']}; flags: {flags}; load: {machine['load_average']}")
    write_json(args.json, figures)


if __name__ == "__main__":
    main()
