"""The official `openai` client (strict validation) against the app, served in-process (no socket matters).

The engine-facing tests run once per engine family (GigaAM, and the test-only echo family of
tests/fixtures/echo_engine.py); what they expect follows from the capabilities the engine declares.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

import openai
import pytest
from openai.types.audio import (
    Transcription,
    TranscriptionTextDeltaEvent,
    TranscriptionTextDoneEvent,
    TranscriptionTextSegmentEvent,
    TranscriptionVerbose,
)

from gigaam_api.config import Settings
from gigaam_api.engines.base import Capabilities
from gigaam_api.formats.languages import NAMES, language_name
from gigaam_api.formats.render import ResponseFormat
from tests.fixtures.app_server import AppServer, serve_app
from tests.fixtures.waiting import HANG_GUARD_SECONDS

# A model of each engine family; the session's `server` serves the first.
FAMILY_MODELS = ["gigaam-v3-ctc", "echo-1"]


@pytest.fixture(scope="module", params=FAMILY_MODELS)
def family_model(request: pytest.FixtureRequest) -> str:
    if request.param == "echo-1":
        request.getfixturevalue("echo_family")
    model: str = request.param
    return model


@pytest.fixture(scope="module")
def served(
    family_model: str, request: pytest.FixtureRequest, settings_factory: Callable[..., Settings]
) -> Iterator[AppServer]:
    if family_model == FAMILY_MODELS[0]:
        yield request.getfixturevalue("app_server")
        return
    with serve_app(settings_factory(MODEL=family_model)) as app:
        yield app


@pytest.fixture
def client(served: AppServer) -> openai.OpenAI:
    return served.client()


@pytest.fixture
def caps(served: AppServer) -> Capabilities:
    return served.state.ready_transcriber().capabilities


def _granularities(caps: Capabilities) -> list[Literal["word", "segment"]]:
    return ["word", "segment"] if caps.word_timestamps else ["segment"]


def _code(caps: Capabilities, name: str) -> str:
    """The declared language whose name a body reports."""
    return next(code for code in caps.languages if language_name(code) == name)


def _open(path: Path) -> tuple[str, bytes]:
    # Named "upload" on purpose: the format must come from the bytes, not the file name.
    return ("upload", path.read_bytes())


def test_json_default(client: openai.OpenAI, audio_dir: Path) -> None:
    result = client.audio.transcriptions.create(model="whisper-1", file=_open(audio_dir / "greeting.wav"))
    assert isinstance(result, Transcription)
    assert result.text.strip()
    usage = result.usage
    assert usage is not None and usage.type == "duration"
    assert usage.seconds >= 3


def test_text_depends_on_audio(client: openai.OpenAI, audio_dir: Path) -> None:
    a = client.audio.transcriptions.create(model="whisper-1", file=_open(audio_dir / "greeting.wav"))
    b = client.audio.transcriptions.create(model="whisper-1", file=_open(audio_dir / "weather.wav"))
    again = client.audio.transcriptions.create(model="whisper-1", file=_open(audio_dir / "greeting.wav"))
    assert a.text != b.text
    assert a.text == again.text


@pytest.mark.parametrize("fmt", ["wav", "mp3", "ogg", "flac", "m4a", "webm", "mp4"])
def test_every_container(client: openai.OpenAI, caps: Capabilities, audio_dir: Path, fmt: str) -> None:
    result = client.audio.transcriptions.create(
        model=caps.model_id, file=_open(audio_dir / f"greeting.{fmt}"), response_format="verbose_json"
    )
    assert result.text.strip()
    assert 3 < result.duration < 8


def test_verbose_json_segments_and_words(client: openai.OpenAI, caps: Capabilities, audio_dir: Path) -> None:
    granularities: list[Literal["word", "segment"]] = (
        ["word", "segment"] if caps.word_timestamps else ["segment"]
    )
    result = client.audio.transcriptions.create(
        model="whisper-1",
        file=_open(audio_dir / "greeting.mp3"),
        response_format="verbose_json",
        timestamp_granularities=granularities,
    )
    assert isinstance(result, TranscriptionVerbose)
    # The label is what the engine used or detected: one of its languages, never a default's.
    assert result.language in {language_name(code) for code in caps.languages}
    assert result.segments
    seg = result.segments[0]
    assert bool(seg.tokens) == caps.token_logprobs and all(isinstance(t, int) for t in seg.tokens)
    assert seg.avg_logprob <= 0
    assert seg.compression_ratio > 0
    assert result.segments[-1].end <= result.duration + 0.01
    if not caps.word_timestamps:
        assert result.words is None
        return
    assert result.words
    starts = [w.start for w in result.words]
    assert starts == sorted(starts)
    for word in result.words:  # each inside its segment
        assert any(s.start <= word.start <= word.end <= s.end + 0.01 for s in result.segments)
    separator = caps.separator(_code(caps, result.language))
    assert separator.join(w.word for w in result.words) == result.text


def test_text_is_joined_by_the_engines_rule_for_the_language(
    client: openai.OpenAI, caps: Capabilities, audio_dir: Path
) -> None:
    """Segments of a language written without spaces join with nothing between them; others with one."""
    for code in sorted(caps.languages):
        result = client.audio.transcriptions.create(
            model=caps.model_id,
            file=_open(audio_dir / "greeting.wav"),
            response_format="verbose_json",
            language=code,
        )
        assert isinstance(result, TranscriptionVerbose) and result.segments
        if result.duration > caps.chunks.longest_seconds:  # no chunk is longer than the engine takes
            assert len(result.segments) > 1
        assert result.text == caps.separator(code).join(s.text for s in result.segments if s.text)


def test_verbose_json_without_word_granularity_has_no_words(client: openai.OpenAI, audio_dir: Path) -> None:
    result = client.audio.transcriptions.create(
        model="whisper-1", file=_open(audio_dir / "greeting.wav"), response_format="verbose_json"
    )
    assert result.words is None
    assert result.segments


@pytest.mark.parametrize("fmt", ["text", "srt", "vtt"])
def test_plain_formats(client: openai.OpenAI, audio_dir: Path, fmt: str) -> None:
    body = client.audio.transcriptions.create(
        model="whisper-1",
        file=_open(audio_dir / "greeting.wav"),
        response_format=fmt,  # type: ignore[call-overload]
    )
    assert isinstance(body, str)
    assert not body.startswith('"')
    if fmt == "srt":
        assert body.startswith("1\n00:00:")
        assert " --> " in body
    elif fmt == "vtt":
        assert body.startswith("WEBVTT\n\n")
    else:
        assert body.endswith("\n") and body.strip()


def test_logprobs(client: openai.OpenAI, caps: Capabilities, audio_dir: Path) -> None:
    if not caps.token_logprobs:  # declared honestly: refused, not answered without them
        with pytest.raises(openai.BadRequestError) as info:
            client.audio.transcriptions.create(
                model="whisper-1", file=_open(audio_dir / "greeting.wav"), include=["logprobs"]
            )
        assert info.value.param == "include"
        return
    result = client.audio.transcriptions.create(
        model="whisper-1", file=_open(audio_dir / "greeting.wav"), include=["logprobs"]
    )
    assert result.logprobs
    assert "".join(lp.token or "" for lp in result.logprobs) == result.text
    assert all((lp.logprob or 0) <= 0 for lp in result.logprobs)


def test_stream_short_audio(client: openai.OpenAI, audio_dir: Path) -> None:
    stream = client.audio.transcriptions.create(
        model="whisper-1", file=_open(audio_dir / "greeting.wav"), stream=True
    )
    events = list(stream)
    deltas = [e.delta for e in events if e.type == "transcript.text.delta"]
    done = [e for e in events if e.type == "transcript.text.done"]
    assert len(done) == 1 and deltas
    assert "".join(deltas) == done[0].text
    plain = client.audio.transcriptions.create(model="whisper-1", file=_open(audio_dir / "greeting.wav"))
    assert done[0].text == plain.text
    assert done[0].usage is not None


@pytest.fixture(scope="module")
def eager_progress(family_model: str, settings_factory: Callable[..., Settings]) -> Iterator[AppServer]:
    """A server that would send a progress event after every batch, were progress on by default."""
    with serve_app(settings_factory(MODEL=family_model, PROGRESS_SECONDS=1e-6)) as app:
        yield app


def test_progress_only_on_request(eager_progress: AppServer, audio_dir: Path) -> None:
    """The control for the strict streams below: asked for, progress events do come."""
    response = eager_progress.http.post(
        "/v1/audio/transcriptions",
        files={"file": ("upload", (audio_dir / "greeting.wav").read_bytes())},
        data={"stream": "true", "include[]": "progress"},
        headers={"Authorization": "Bearer test-key"},
    )
    assert response.status_code == 200
    types = [json.loads(line[6:])["type"] for line in response.text.splitlines() if line.startswith("data: ")]
    assert "transcript.progress" in types
    assert types[-1] == "transcript.text.done"


@pytest.mark.parametrize("fmt", ["json", "verbose_json", "text", "srt", "vtt"])
def test_strict_client_streams_every_format(
    eager_progress: AppServer, audio_dir: Path, fmt: ResponseFormat
) -> None:
    """A client that validates strictly reads the default stream whatever format was asked for:
    every event is one of OpenAI's types (a strict client raises on any other)."""
    stream = eager_progress.client().audio.transcriptions.create(
        model="whisper-1",
        file=_open(audio_dir / "greeting.wav"),
        response_format=fmt,
        stream=True,
    )
    events = list(stream)
    openai_types = TranscriptionTextDeltaEvent | TranscriptionTextSegmentEvent | TranscriptionTextDoneEvent
    assert all(isinstance(e, openai_types) for e in events)
    done = events[-1]
    assert isinstance(done, TranscriptionTextDoneEvent)
    assert [e for e in events if isinstance(e, TranscriptionTextDoneEvent)] == [done]
    assert "".join(e.delta for e in events if isinstance(e, TranscriptionTextDeltaEvent)) == done.text
    assert done.text.strip()


def test_strict_client_streams_words_and_logprobs(eager_progress: AppServer, audio_dir: Path) -> None:
    caps = eager_progress.state.ready_transcriber().capabilities
    granularities: list[Literal["word", "segment"]] = (
        ["word", "segment"] if caps.word_timestamps else ["segment"]
    )
    include: list[Literal["logprobs"]] = ["logprobs"] if caps.token_logprobs else []
    stream = eager_progress.client().audio.transcriptions.create(
        model="whisper-1",
        file=_open(audio_dir / "greeting.wav"),
        response_format="verbose_json",
        timestamp_granularities=granularities,
        include=include,
        stream=True,
    )
    events = list(stream)
    segments = [e for e in events if isinstance(e, TranscriptionTextSegmentEvent)]
    done = events[-1]
    assert isinstance(done, TranscriptionTextDoneEvent)
    assert segments
    # `words` is our extra field, kept by the client; there when the engine times words.
    assert all(bool(s.model_dump().get("words")) == caps.word_timestamps for s in segments)
    if caps.token_logprobs:
        assert done.logprobs
        assert "".join(lp.token or "" for lp in done.logprobs) == done.text
    else:
        assert not done.logprobs


def test_models(client: openai.OpenAI, caps: Capabilities) -> None:
    model = caps.model_id
    ids = [m.id for m in client.models.list()]
    assert ids[0] == model
    assert "whisper-1" in ids
    assert client.models.retrieve(model).id == model
    # Aliases say which model they stand for (the web page shows each model once); strict validation
    # keeps the extra field.
    aliases = {m.id: m.model_dump().get("alias_of") for m in client.models.list()}
    assert aliases == {model: None} | dict.fromkeys(ids[1:], model)
    assert client.models.retrieve("whisper-1").model_dump()["alias_of"] == model
    with pytest.raises(openai.NotFoundError) as info:
        client.models.retrieve("no-such-model")
    assert info.value.code == "model_not_found"


def test_unknown_model_is_400(client: openai.OpenAI, audio_dir: Path) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.audio.transcriptions.create(model="gpt-5-ultra", file=_open(audio_dir / "greeting.wav"))
    assert info.value.param == "model"


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"language": "undeclared"}, "language"),
        ({"response_format": "docx"}, "response_format"),
        ({"temperature": 3.0}, "temperature"),
    ],
)
def test_bad_parameters_are_400(
    client: openai.OpenAI, caps: Capabilities, audio_dir: Path, kwargs: dict[str, object], param: str
) -> None:
    if kwargs.get("language") == "undeclared":  # a language we know that this engine does not declare
        kwargs = {"language": min(code for code in NAMES if code not in caps.languages)}
    with pytest.raises(openai.BadRequestError) as info:
        client.audio.transcriptions.create(
            model="whisper-1", file=_open(audio_dir / "greeting.wav"), **kwargs
        )  # type: ignore[call-overload]
    assert info.value.param == param


def test_diarization_without_the_speaker_model_is_503_and_the_rest_works(
    client: openai.OpenAI, audio_dir: Path
) -> None:
    with pytest.raises(openai.InternalServerError) as info:
        client.audio.transcriptions.create(
            model="whisper-1", file=_open(audio_dir / "greeting.wav"), response_format="diarized_json"
        )
    assert info.value.status_code == 503
    assert info.value.code == "speaker_model_unavailable"
    assert client.audio.transcriptions.create(model="whisper-1", file=_open(audio_dir / "greeting.wav")).text


@pytest.mark.parametrize("language", ["ru", "RU", "rus", "Russian"])
def test_russian_language_codes(
    client: openai.OpenAI, caps: Capabilities, audio_dir: Path, language: str
) -> None:
    assert "ru" in caps.languages  # every family served here transcribes the test phrases' language
    assert client.audio.transcriptions.create(
        model="whisper-1", file=_open(audio_dir / "greeting.wav"), language=language
    ).text


def test_auth(make_app_server: Callable[..., AppServer], audio_dir: Path) -> None:
    live = make_app_server(API_KEY="alpha,beta")
    with pytest.raises(openai.AuthenticationError) as info:
        live.client(api_key="wrong").models.list()
    assert info.value.code == "invalid_api_key"
    assert live.client(api_key="beta").models.list().data
    result = live.client(api_key="alpha").audio.transcriptions.create(
        model="whisper-1", file=_open(audio_dir / "greeting.wav")
    )
    assert result.text


def test_upload_limit_is_413(make_app_server: Callable[..., AppServer], tmp_path: Path) -> None:
    live = make_app_server(MAX_UPLOAD_MB=0.5)
    big = tmp_path / "big.wav"
    big.write_bytes(b"RIFF" + bytes(2 * 1024 * 1024))
    with pytest.raises(openai.APIStatusError) as info:
        live.client().audio.transcriptions.create(model="whisper-1", file=("upload", big.read_bytes()))
    assert info.value.status_code == 413
    assert "0.5 MB" in info.value.message
    assert list(live.state.spool.path.iterdir()) == []


def test_loading_is_503(settings_factory: Callable[..., Settings]) -> None:
    """Before the model is loaded, transcriptions get 503 + Retry-After and /ready says not ready."""
    release = threading.Event()

    def slow_factory(*_: object) -> object:
        assert release.wait(HANG_GUARD_SECONDS), "the test never released the load"
        raise RuntimeError("never loads")

    with serve_app(settings_factory(), wait_ready=False, factory=slow_factory) as served:
        try:
            with pytest.raises(openai.InternalServerError) as info:
                served.client().audio.transcriptions.create(model="whisper-1", file=("a.wav", b"RIFF"))
            assert info.value.status_code == 503
            assert info.value.response.headers["retry-after"]
            assert served.http.get("/ready").status_code == 503
        finally:
            release.set()
