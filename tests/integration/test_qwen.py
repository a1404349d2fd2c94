"""Two engines in one real server: the generated GigaAM and a tiny random Qwen3-ASR (real qwen-asr code,
transformers and torch on the CPU), routed by model and language through the official client."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import openai
import pytest

from gigaam_api.app import build_transcriber
from gigaam_api.config import Settings
from gigaam_api.engines.base import ASREngine
from tests.fixtures.engines import WatchedEngine
from tests.fixtures.live_server import LiveServer, start_server
from tests.fixtures.speech import PHRASES, long_speech, write_wav
from tests.fixtures.waiting import HANG_GUARD_SECONDS, wait_until

QWEN = "qwen3-asr-0.6b"
GIGAAM = "gigaam-v3-ctc"


@pytest.fixture(scope="module")
def both(settings_factory: Callable[..., Settings], qwen_models_dir: Path) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        base: dict[str, Any] = {
            "MODELS_DIR": qwen_models_dir,
            "MODELS": f"{GIGAAM},{QWEN}",
            "QWEN_DEVICE": "cpu",
            "QWEN_MAX_NEW_TOKENS": 24,
        }
        return settings_factory(**(base | overrides))

    return make


@pytest.fixture(scope="module")
def server(both: Callable[..., Settings]) -> Iterator[LiveServer]:
    live = start_server(both())
    yield live
    live.stop()


def _open(path: Path) -> tuple[str, bytes]:
    return (path.name, path.read_bytes())


def _states(live: LiveServer) -> dict[str, str]:
    models = httpx.get(f"{live.url}/health").json()["models"]
    return {model: info["state"] for model, info in models.items()}


def test_qwen_loads_on_first_use_and_russian_never_wakes_it(
    server: LiveServer, audio_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    client = server.client()
    ids = [m.id for m in client.models.list()]
    assert ids[:2] == [GIGAAM, QWEN] and "whisper-1" in ids
    assert client.models.retrieve("Qwen/Qwen3-ASR-0.6B").id == "Qwen/Qwen3-ASR-0.6B"
    health = httpx.get(f"{server.url}/health").json()["models"][QWEN]
    assert (health["device"], health["runtime"], health["word_timestamps"], health["token_logprobs"]) == (
        "cpu",
        "transformers",
        False,
        False,
    )
    assert _states(server) == {GIGAAM: "loaded", QWEN: "unloaded"}

    russian = client.audio.transcriptions.create(
        model="whisper-1",
        file=_open(audio_dir / "greeting.wav"),
        language="ru",
        response_format="verbose_json",
    )
    assert russian.language == "russian" and russian.text
    assert _states(server)[QWEN] == "unloaded"  # Russian went to GigaAM

    with caplog.at_level(logging.INFO):
        english = client.audio.transcriptions.create(
            model="whisper-1",
            file=_open(audio_dir / "greeting.wav"),
            language="en",
            response_format="verbose_json",
        )
    assert english.language == "english" and english.text.strip()
    assert english.segments and english.segments[0].end <= (english.duration or 0) + 1e-6
    assert _states(server) == {GIGAAM: "loaded", QWEN: "loaded"}
    assert f"loaded {QWEN} on first use" in caplog.text
    # Building and loading Qwen3-ASR imported qwen-asr (and nagisa, which flushes subnormals to zero in the
    # importing thread): this thread still computes with them.
    assert np.nextafter(np.float32(0), np.float32(1)) > 0


def test_the_multilingual_text_path_is_deterministic_and_follows_the_audio(
    server: LiveServer, audio_dir: Path
) -> None:
    client = server.client()

    def text(phrase: str, language: str) -> str:
        return client.audio.transcriptions.create(
            model=QWEN, file=_open(audio_dir / f"{phrase}.wav"), language=language
        ).text

    greeting = text("greeting", "de")
    assert greeting.strip()
    assert text("greeting", "de") == greeting
    assert text("weather", "de") != greeting
    # A named model takes the request whatever the language, Russian included.
    named = client.audio.transcriptions.create(
        model=QWEN, file=_open(audio_dir / "greeting.wav"), language="ru", response_format="verbose_json"
    )
    assert named.language == "russian" and named.text.strip()


def test_include_logprobs_shows_which_engine_took_the_request(server: LiveServer, audio_dir: Path) -> None:
    client = server.client()
    russian = client.audio.transcriptions.create(
        model="whisper-1", file=_open(audio_dir / "weather.wav"), language="ru", include=["logprobs"]
    )
    assert russian.logprobs  # GigaAM gives token log-probabilities
    with pytest.raises(openai.BadRequestError) as info:
        client.audio.transcriptions.create(
            model="whisper-1", file=_open(audio_dir / "weather.wav"), language="fr", include=["logprobs"]
        )
    assert info.value.param == "include" and QWEN in info.value.message


def test_several_languages_pick_the_model_that_transcribes_them_all(
    server: LiveServer, audio_dir: Path
) -> None:
    client = server.client()
    one = client.audio.transcriptions.create(
        model="whisper-1", file=_open(audio_dir / "weather.wav"), languages=["ru"], include=["logprobs"]
    )
    assert one.logprobs  # Russian alone: GigaAM, which gives token log-probabilities
    with pytest.raises(openai.BadRequestError) as info:
        client.audio.transcriptions.create(
            model="whisper-1",
            file=_open(audio_dir / "weather.wav"),
            languages=["ru", "en"],
            include=["logprobs"],
        )
    assert info.value.param == "include" and QWEN in info.value.message  # routed to Qwen3-ASR


@pytest.mark.parametrize(
    ("fields", "expected", "named"),
    [
        ({"model": GIGAAM, "language": "en"}, ("language", "unsupported_language"), QWEN),
        ({"model": "whisper-1", "language": "uk"}, ("language", "unsupported_language"), f"{GIGAAM} (ru)"),
        ({"model": "qwen3-asr-1.7b"}, ("model", "model_not_found"), f"{GIGAAM}, {QWEN}"),
        (
            {
                "model": QWEN,
                "language": "en",
                "response_format": "verbose_json",
                "timestamp_granularities[]": "word",
            },
            ("timestamp_granularities", "unsupported_option"),
            QWEN,
        ),
        ({"model": QWEN, "keywords[]": "сбербанк"}, ("keywords", "unsupported_option"), QWEN),
        ({"languages[]": ["ru", "uk"]}, ("languages", "unsupported_language"), f"{GIGAAM} (ru)"),
        (
            {"stream": "true", "include[]": "logprobs", "language": "en"},
            ("include", "unsupported_option"),
            QWEN,
        ),
    ],
)
def test_what_no_served_model_can_do_is_a_400_naming_what_is_available(
    server: LiveServer, audio_dir: Path, fields: dict[str, Any], expected: tuple[str, str], named: str
) -> None:
    response = httpx.post(
        f"{server.url}/v1/audio/transcriptions",
        data=fields,
        files={"file": _open(audio_dir / "weather.wav")},
        timeout=60,
    )
    error = response.json()["error"]
    assert response.status_code == 400
    assert (error["param"], error["code"], error["type"]) == (*expected, "invalid_request_error")
    assert named in error["message"]


def test_the_stream_contract_holds_for_qwen(server: LiveServer, audio_dir: Path) -> None:
    client = server.client()
    stream = client.audio.transcriptions.create(
        model=QWEN, file=_open(audio_dir / "weather.wav"), language="es", stream=True
    )
    events = list(stream)
    deltas = [e.delta for e in events if e.type == "transcript.text.delta"]
    done = [e for e in events if e.type == "transcript.text.done"]
    assert len(done) == 1 and deltas and events[-1].type == "transcript.text.done"
    assert "".join(deltas) == done[0].text
    plain = client.audio.transcriptions.create(
        model=QWEN, file=_open(audio_dir / "weather.wav"), language="es"
    )
    assert done[0].text == plain.text


def test_with_qwen_as_default_a_request_without_language_goes_to_it(
    both: Callable[..., Settings], audio_dir: Path
) -> None:
    live = start_server(both(MODELS=f"{QWEN},{GIGAAM}"))
    try:
        assert _states(live) == {QWEN: "loaded", GIGAAM: "unloaded"}
        client = live.client()
        assert client.audio.transcriptions.create(
            model="whisper-1", file=_open(audio_dir / "weather.wav")
        ).text
        assert _states(live)[GIGAAM] == "unloaded"
        client.audio.transcriptions.create(
            model="whisper-1", file=_open(audio_dir / "weather.wav"), language="ru"
        )
        assert _states(live)[GIGAAM] == "loaded"  # Russian still goes to the specialist
    finally:
        live.stop()


def test_a_cancelled_qwen_job_runs_no_further_batch(both: Callable[..., Settings], tmp_path: Path) -> None:
    """Qwen3-ASR and GigaAM share the CPU's scheduler: after the client leaves, the long GigaAM job that
    follows gets every turn; a cancelled Qwen job still holding batches would show up between them."""
    watched: list[WatchedEngine] = []

    def wrap(engine: ASREngine) -> ASREngine:
        if engine.capabilities.model_id != QWEN:
            return engine
        watched.append(WatchedEngine(engine, gated=True))
        return watched[0]

    phrases = list(PHRASES.values()) * 4
    audio, _ = long_speech(phrases, [1.0] * (len(phrases) - 1))
    long_file = write_wav(tmp_path / "long.wav", audio)
    live = start_server(
        both(BATCH_SECONDS=1, VAD_MIN=2, VAD_MAX=4, VAD_HARD_MAX=6),
        factory=partial(build_transcriber, wrap_engine=wrap),
    )
    try:
        engine = watched[0]
        request = {"model": QWEN, "language": "ru", "stream": "true"}
        with (
            httpx.Client(timeout=60) as http,
            http.stream(
                "POST", f"{live.url}/v1/audio/transcriptions", data=request, files={"file": _open(long_file)}
            ),
        ):
            wait_until(engine.started.is_set, "the first Qwen batch holds the CPU")
        wait_until(lambda: live.state.admission.count == 0, "the cancelled job is released")
        engine.gate.set()
        done = threading.Event()

        def gigaam_long() -> None:
            response = httpx.post(
                f"{live.url}/v1/audio/transcriptions",
                data={"model": GIGAAM},
                files={"file": _open(long_file)},
                timeout=120,
            )
            assert response.status_code == 200
            done.set()

        thread = threading.Thread(target=gigaam_long, daemon=True)
        thread.start()
        thread.join(HANG_GUARD_SECONDS)
        assert done.is_set()
        assert len(engine.batches) <= 2, "the held batch and the one already queued, no more"
        assert list(live.state.spool.path.iterdir()) == []
    finally:
        watched[0].gate.set()
        live.stop()
