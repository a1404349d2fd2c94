"""Uploads sharing SPOOL_MAX_MB: each reserves its body and expected decoded audio before it is read, so
the first comers finish and a later one is refused at once, instead of all running out part-way."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import httpx

from gigaam_api.app import build_transcriber
from gigaam_api.config import Settings
from gigaam_api.engines.base import ASREngine
from tests.fixtures.engines import WatchedEngine
from tests.fixtures.live_server import LiveServer, start_server
from tests.fixtures.speech import PAUSES, SENTENCES, long_speech, write_wav
from tests.fixtures.waiting import wait_until


def _post(live: LiveServer, audio: Path) -> httpx.Response:
    with audio.open("rb") as f:
        return httpx.post(f"{live.url}/v1/audio/transcriptions", files={"file": (audio.name, f)}, timeout=120)


def test_the_first_comer_finishes_and_a_later_one_is_refused_at_once(
    settings_factory: Callable[..., Settings], audio_dir: Path, tmp_path: Path
) -> None:
    recording = write_wav(tmp_path / "meeting.wav", long_speech(SENTENCES[:4], PAUSES[:3])[0])
    blocker = audio_dir / "weather.wav"
    size, blocker_size = recording.stat().st_size, blocker.stat().st_size
    # 16 kHz mono WAV decodes to its own size: room for the blocker and one recording, each uploaded and
    # decoded, plus a quarter of a recording: two recordings' uploads fit, not their decoded audio.
    budget = 2 * blocker_size + 2 * size + size // 4
    engines: list[WatchedEngine] = []

    def gated(engine: ASREngine) -> ASREngine:
        engines.append(WatchedEngine(engine, gated=True))
        return engines[-1]

    settings = settings_factory(
        SPOOL_MAX_MB=budget / 2**20, SPOOL_DECODE_RATIO=1, MAX_RUNNING=1, MAX_WAITING=4
    )
    live = start_server(settings, factory=partial(build_transcriber, wrap_engine=gated))
    admission = live.state.admission
    try:
        with ThreadPoolExecutor(3) as pool, contextlib.ExitStack() as opened:
            opened.callback(engines[0].gate.set)  # before the pool waits for its requests, even on failure
            held = pool.submit(_post, live, blocker)  # holds the one running slot at the engine's gate
            wait_until(engines[0].started.is_set, "the blocker's batch reaches the engine")
            first = pool.submit(_post, live, recording)
            wait_until(lambda: admission.waiting == 1, "the first comer is uploaded and waits in line")
            later = pool.submit(_post, live, recording)
            wait_until(lambda: later.done() or admission.waiting == 2, "the later one is answered or waits")
            assert later.done(), "the later upload was taken in: the first comer's decoding may starve"
            refused = later.result()
            assert refused.status_code == 503 and refused.json()["error"]["code"] == "spool_full"
            engines[0].gate.set()
            assert held.result().status_code == 200
            assert first.result().status_code == 200, first.result().text
        assert live.state.spool.used_bytes == 0
        assert _post(live, recording).status_code == 200  # its turn now
    finally:
        live.stop()


def test_a_reservation_is_corrected_by_decoding(
    settings_factory: Callable[..., Settings], audio_dir: Path
) -> None:
    engines: list[WatchedEngine] = []

    def gated(engine: ASREngine) -> ASREngine:
        engines.append(WatchedEngine(engine, gated=True))
        return engines[-1]

    ogg = audio_dir / "weather.ogg"
    settings = settings_factory(SPOOL_DECODE_RATIO=50, SPOOL_MAX_MB=64 * ogg.stat().st_size / 2**20)
    live = start_server(settings, factory=partial(build_transcriber, wrap_engine=gated))
    spool = live.state.spool
    try:
        with ThreadPoolExecutor(1) as pool, contextlib.ExitStack() as opened:
            opened.callback(engines[0].gate.set)
            held = pool.submit(_post, live, ogg)
            wait_until(engines[0].started.is_set, "the request is decoded and at the engine")
            written = sum(p.stat().st_size for p in spool.path.iterdir())
            # 51 times the upload was reserved before it was read; decoded, it holds what it wrote.
            assert spool.used_bytes == written < 4 * ogg.stat().st_size
            engines[0].gate.set()
            assert held.result().status_code == 200
        assert spool.used_bytes == 0
    finally:
        live.stop()


def test_a_request_attached_to_an_identical_run_gives_its_decoding_reservation_back(
    settings_factory: Callable[..., Settings], audio_dir: Path
) -> None:
    """The identical retry decodes nothing (the first request's run does): under a shared budget it must
    hold only its upload, not the decoded audio it reserved before it knew."""
    engines: list[WatchedEngine] = []

    def gated(engine: ASREngine) -> ASREngine:
        engines.append(WatchedEngine(engine, gated=True))
        return engines[-1]

    ogg = audio_dir / "weather.ogg"
    settings = settings_factory(
        DEDUP=True, SPOOL_DECODE_RATIO=50, SPOOL_MAX_MB=256 * ogg.stat().st_size / 2**20
    )
    live = start_server(settings, factory=partial(build_transcriber, wrap_engine=gated))
    spool = live.state.spool
    try:
        with ThreadPoolExecutor(2) as pool, contextlib.ExitStack() as opened:
            opened.callback(engines[0].gate.set)
            first = pool.submit(_post, live, ogg)
            wait_until(engines[0].started.is_set, "the first request is decoded and at the engine")
            retry = pool.submit(_post, live, ogg)
            # The retry gives its reservation back a few loop turns after it attaches: wait for both (old
            # code: 50 times the retry's upload stayed reserved, for nothing, until the guard failed it).
            wait_until(
                lambda: live.state.runs.clients == 2 and spool.used_bytes == _written(spool.path),
                "the retry attaches to the first one's run, holding only its upload",
            )
            engines[0].gate.set()
            assert first.result().status_code == 200
            assert retry.result().json() == first.result().json()
        wait_until(lambda: spool.used_bytes == 0, "the run has ended and its files are gone")
    finally:
        live.stop()


def _written(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.iterdir())
