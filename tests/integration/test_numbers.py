"""`numbers=digits` end to end: the official client (strict validation) against a real server, on
espeak-ng speech saying a sum of money, through every way a transcript leaves the server.

The test models are generated with random weights, so they cannot recognise the words said. The engine
here runs the real model on the real audio, then replaces its text with what was said, spread over the
chunk (`SpokenEngine`): everything after recognition, where the rewrite happens, is the server's own.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt
import openai
import pytest
from openai.types.audio import TranscriptionTextDeltaEvent, TranscriptionTextDoneEvent
from playwright.sync_api import expect

from gigaam_api import cli
from gigaam_api.audio.rate import SAMPLE_RATE
from gigaam_api.config import Settings
from gigaam_api.engines.base import ASREngine, Capabilities, ChunkResult, EngineOptions
from gigaam_api.pipeline import assembly
from gigaam_api.transcript import Word
from tests.fixtures.browser import downloaded, opened_page, transcribed
from tests.fixtures.jobs import submit, wait_finished
from tests.fixtures.live_server import LiveServer, start_server
from tests.fixtures.speech import synthesize, write_wav

pytestmark = pytest.mark.integration

SAID = "итого двадцать пять тысяч триста рублей"
WRITTEN = "итого 25 300 рублей"


class SpokenEngine:
    """The real engine on the real audio, with the words that were said as its text (see above)."""

    def __init__(self, inner: ASREngine) -> None:
        self.inner = inner

    @property
    def capabilities(self) -> Capabilities:
        return self.inner.capabilities

    def transcribe_batch(
        self, chunks: Sequence[npt.NDArray[np.float32]], options: EngineOptions
    ) -> list[ChunkResult]:
        heard = self.inner.transcribe_batch(chunks, options)
        return [_said(len(chunk) / SAMPLE_RATE, result) for chunk, result in zip(chunks, heard, strict=True)]


def _said(seconds: float, heard: ChunkResult) -> ChunkResult:
    texts = SAID.split()
    step = seconds / len(texts)
    words = tuple(Word(w, round(i * step, 3), round((i + 1) * step, 3)) for i, w in enumerate(texts))
    return ChunkResult(SAID, words, heard.tokens, heard.language)


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_wav(tmp_path_factory.mktemp("numbers") / "sum.wav", synthesize(SAID))


@pytest.fixture(scope="module")
def spoken(settings_factory: Callable[..., Settings]) -> Iterator[Callable[..., LiveServer]]:
    started: list[LiveServer] = []

    def make(**overrides: object) -> LiveServer:
        factory = partial(assembly.build_transcriber, wrap_engine=SpokenEngine)
        live = start_server(settings_factory(**overrides), factory=factory)
        started.append(live)
        return live

    yield make
    for live in started:
        live.stop()


@pytest.fixture(scope="module")
def server(spoken: Callable[..., LiveServer]) -> LiveServer:
    return spoken()


def _create(client: openai.OpenAI, audio: Path, **kwargs: Any) -> Any:
    """The client's result for `audio`: its type follows response_format and stream."""
    with audio.open("rb") as f:
        return client.audio.transcriptions.create(model="whisper-1", file=f, **kwargs)


def test_text_gets_digits_only_when_asked(server: LiveServer, speech: Path) -> None:
    client = server.client()

    assert _create(client, speech, extra_body={"numbers": "digits"}).text == WRITTEN
    assert _create(client, speech).text == SAID
    assert _create(client, speech, extra_body={"numbers": "words"}).text == SAID


def test_the_rewritten_words_take_the_times_of_the_words_they_replace(
    server: LiveServer, speech: Path
) -> None:
    client = server.client()
    asked: dict[str, Any] = {
        "response_format": "verbose_json",
        "timestamp_granularities": ["word", "segment"],
    }

    spoken = _create(client, speech, **asked)
    written = _create(client, speech, **asked, extra_body={"numbers": "digits"})

    heard = spoken.words
    assert [w.word for w in written.words] == ["итого", "25 300", "рублей"]
    number = written.words[1]
    assert (number.start, number.end) == (heard[1].start, heard[4].end)
    assert written.words[0] == heard[0] and written.words[2] == heard[5]
    assert [s.text for s in written.segments] == [WRITTEN]


def test_subtitles_show_the_digits(server: LiveServer, speech: Path) -> None:
    client = server.client()

    for fmt in ("srt", "vtt"):
        subtitles = _create(client, speech, response_format=fmt, extra_body={"numbers": "digits"})
        assert WRITTEN in str(subtitles)
        assert "двадцать" not in str(subtitles)


def test_the_stream_carries_the_digits(server: LiveServer, speech: Path) -> None:
    stream = _create(server.client(), speech, stream=True, extra_body={"numbers": "digits"})
    events = list(stream)

    deltas = [e.delta for e in events if isinstance(e, TranscriptionTextDeltaEvent)]
    done = [e for e in events if isinstance(e, TranscriptionTextDoneEvent)]
    assert len(done) == 1 and done[0].text == WRITTEN
    assert "".join(deltas) == WRITTEN


def test_a_job_writes_digits_when_asked(server: LiveServer, speech: Path) -> None:
    job = submit(server.url, speech, numbers="digits")
    assert wait_finished(server.url, job["id"])["status"] == "succeeded"

    result = httpx.get(f"{server.url}/v1/jobs/{job['id']}/result", timeout=10)
    assert result.status_code == 200 and result.json()["text"] == WRITTEN


def test_the_server_default_applies_unless_the_request_says(
    spoken: Callable[..., LiveServer], speech: Path
) -> None:
    client = spoken(NUMBERS="digits").client()

    assert _create(client, speech).text == WRITTEN
    assert _create(client, speech, extra_body={"numbers": "words"}).text == SAID


def test_without_the_extra_digits_are_a_clear_400(
    server: LiveServer, speech: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "damga", None)  # as if not installed (the server runs in this process)

    with pytest.raises(openai.BadRequestError) as info:
        _create(server.client(), speech, extra_body={"numbers": "digits"})

    error = info.value.body
    assert isinstance(error, dict)
    assert error["param"] == "numbers" and "--extra numbers" in error["message"]
    assert _create(server.client(), speech).text == SAID


def test_a_bad_value_is_a_400_naming_the_field(server: LiveServer, speech: Path) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        _create(server.client(), speech, extra_body={"numbers": "roman"})

    assert isinstance(info.value.body, dict) and info.value.body["param"] == "numbers"


def test_the_cli_flag_writes_digits(
    speech: Path,
    models_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # `gigaam-api transcribe` in this process, so its pipeline can be given the spoken engine.
    spoken = partial(assembly.build_transcriber, wrap_engine=SpokenEngine)
    monkeypatch.setattr(assembly, "build_transcriber", spoken)
    monkeypatch.chdir(tmp_path)  # no .env of the working tree
    settings = {"MODELS_DIR": models_dir, "OFFLINE": "true", "SPOOL_DIR": tmp_path / "spool"}
    for name in ("MODEL", "MODELS", "NUMBERS", "LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {**settings, "NUM_THREADS": 1, "RUNTIME": "onnxruntime", "PRECISION": "fp32"}.items():
        monkeypatch.setenv(name, str(value))

    assert cli.main(["transcribe", str(speech), "-q", "--numbers", "digits"]) == 0
    assert capsys.readouterr().out.strip() == WRITTEN
    assert cli.main(["transcribe", str(speech), "-q"]) == 0
    assert capsys.readouterr().out.strip() == SAID
    assert cli.main(["transcribe", str(speech), "-q", "--numbers", "roman"]) == 2
    assert "NUMBERS" in capsys.readouterr().err


def test_the_web_page_checkbox_asks_for_digits(server: LiveServer, speech: Path) -> None:
    with opened_page(server.url) as page:
        page.check("#numbers-check")
        job = transcribed(page, speech)
        expect(job.locator(".segments li span")).to_have_text([WRITTEN])
        # The downloads are rendered from the words the page streamed.
        assert WRITTEN in downloaded(page, job, "srt")

        page.uncheck("#numbers-check")
        expect(transcribed(page, speech, 1).locator(".segments li span")).to_have_text([SAID])
