"""POST /v1/audio/translations and `translate` on transcriptions, against real local LLM stand-ins
(jobs: test_jobs_translation.py).

The fake LLM (tests/fixtures/fake_llm.py) "translates" by upper-casing, so a translation must be the
transcription upper-cased, its subtitle files included: same cues, same times, rendered by our formats.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from gigaam_api.config import Settings
from tests.fixtures.fake_llm import FakeLLM, fake_llm
from tests.fixtures.live_server import LiveServer, start_server
from tests.fixtures.processes import free_port
from tests.fixtures.speech import PAUSES, SENTENCES, long_speech, write_wav
from tests.fixtures.waiting import wait_until

FORMATS = ("json", "text", "srt", "vtt", "verbose_json")
LLM_KEY = "llm-secret-key"
# Every pause of the speech ends a segment: four segments, so batches of two make several calls.
CHUNKING = json.dumps({"type": "server_vad", "silence_duration_ms": 300})


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Path:
    audio, _ = long_speech(SENTENCES[:4], PAUSES[:3])
    return write_wav(tmp_path_factory.mktemp("translations") / "four.wav", audio)


@pytest.fixture(scope="module")
def llm_port() -> int:
    return free_port()


@pytest.fixture
def llm(llm_port: int) -> Iterator[FakeLLM]:
    """A fresh fake LLM for each test, on the port the module's server sends to. A failed translation
    cancels its other calls, but their requests may already be on the wire: they reach the fake of the
    test that caused them, never the next test's (whose request counts they would break)."""
    with fake_llm(port=llm_port) as server:
        yield server


def _translating(settings_factory: Callable[..., Settings], base_url: str, **overrides: Any) -> LiveServer:
    return start_server(
        settings_factory(
            TRANSLATION_BASE_URL=base_url,
            TRANSLATION_MODEL="fake-model",
            TRANSLATION_API_KEY=LLM_KEY,
            TRANSLATION_BATCH_SEGMENTS=2,
            **overrides,
        )
    )


@pytest.fixture(scope="module")
def live(settings_factory: Callable[..., Settings], llm_port: int) -> Iterator[LiveServer]:
    server = _translating(settings_factory, f"http://127.0.0.1:{llm_port}/v1")
    yield server
    server.stop()


def _translate(client: openai.OpenAI, audio: Path, **kwargs: Any) -> Any:
    extra = {"chunking_strategy": CHUNKING, **kwargs.pop("extra_body", {})}
    with warnings.catch_warnings(), audio.open("rb") as f:
        warnings.simplefilter("ignore", DeprecationWarning)  # translations.create is deprecated in 3.x
        return client.audio.translations.create(file=f, model="whisper-1", extra_body=extra, **kwargs)


def _transcribe(client: openai.OpenAI, audio: Path, **kwargs: Any) -> Any:
    extra = {"chunking_strategy": CHUNKING, **kwargs.pop("extra_body", {})}
    with audio.open("rb") as f:
        return client.audio.transcriptions.create(file=f, model="whisper-1", extra_body=extra, **kwargs)


def test_every_format_is_the_transcription_translated_with_its_times(
    live: LiveServer, llm: FakeLLM, speech: Path
) -> None:
    client = live.client()
    for fmt in FORMATS:
        translated = _translate(client, speech, response_format=fmt)
        original = _transcribe(client, speech, response_format=fmt)
        if fmt == "json":
            assert original.text != original.text.upper()
            assert translated.text == original.text.upper()
        elif fmt == "verbose_json":
            assert translated.language == "english"
            assert translated.duration == original.duration
            assert len(original.segments) >= 3  # several batches of 2
            assert [(s.id, s.start, s.end) for s in translated.segments] == [
                (s.id, s.start, s.end) for s in original.segments
            ]
            assert [s.text for s in translated.segments] == [s.text.upper() for s in original.segments]
        else:  # text, srt, vtt: the same cues at the same times, only the texts translated
            assert translated == original.upper(), fmt
    headers, body = llm.requests[0]
    assert headers["Authorization"] == f"Bearer {LLM_KEY}"
    assert body["model"] == "fake-model"
    assert body["response_format"] == {"type": "json_object"}
    assert "English" in body["messages"][0]["content"]
    assert all(len(batch) <= 2 for batch in llm.batches())


def test_verbose_json_says_translate_and_target_language_picks_another(
    live: LiveServer, llm: FakeLLM, speech: Path
) -> None:
    with speech.open("rb") as f:
        response = httpx.post(
            f"{live.url}/v1/audio/translations",
            files={"file": (speech.name, f)},
            data={
                "model": "whisper-1",
                "response_format": "verbose_json",
                "target_language": "de",
                "chunking_strategy": CHUNKING,
            },
            timeout=120,
        )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["task"] == "translate"
    assert body["language"] == "german"
    assert "German" in llm.requests[0][1]["messages"][0]["content"]


def test_markdown_fences_and_prose_around_the_answer_are_tolerated(
    live: LiveServer, llm: FakeLLM, speech: Path
) -> None:
    expected = _transcribe(live.client(), speech, response_format="srt").upper()
    llm.mode = "fenced"
    assert _translate(live.client(), speech, response_format="srt") == expected


def test_a_wrong_count_is_retried_in_halves(live: LiveServer, llm: FakeLLM, speech: Path) -> None:
    expected = _transcribe(live.client(), speech, response_format="vtt").upper()
    llm.mode = "drops"
    assert _translate(live.client(), speech, response_format="vtt") == expected
    batches = llm.batches()
    assert [0, 1] in batches
    assert [0] in batches
    assert [1] in batches  # the pair that came back short, sent again one by one
    assert batches.index([0, 1]) < batches.index([0])


def test_a_segment_translated_to_nothing_keeps_its_cue_with_the_original_text(
    live: LiveServer, llm: FakeLLM, speech: Path
) -> None:
    original = _transcribe(live.client(), speech, response_format="verbose_json")
    original_srt = _transcribe(live.client(), speech, response_format="srt")
    llm.mode = "empty_first"
    translated = _translate(live.client(), speech, response_format="verbose_json")
    srt = _translate(live.client(), speech, response_format="srt")
    texts = [s.text for s in original.segments]
    assert [s.text for s in translated.segments] == [texts[0], *(t.upper() for t in texts[1:])]
    assert srt.count("-->") == original_srt.count("-->")  # no cue dropped
    assert texts[0].strip() in srt


def test_answers_that_never_match_are_a_502_with_the_reason(
    live: LiveServer, llm: FakeLLM, speech: Path
) -> None:
    llm.mode = "wrong_ids"
    with pytest.raises(openai.InternalServerError) as caught:
        _translate(live.client(), speech)
    assert caught.value.status_code == 502
    error = caught.value.body
    assert isinstance(error, dict)
    assert error["code"] == "translation_failed"
    # Whichever single segment fails first ends the translation (the rest are cancelled): any may.
    named = re.search(r"segment (\d+): .*unknown segment ids (\d+)", error["message"])
    assert named is not None, error["message"]
    assert int(named[2]) == 1000 + int(named[1])
    assert any(len(batch) == 1 for batch in llm.batches())  # halved down to one segment first


def test_an_llm_error_status_is_a_502_without_its_address(
    live: LiveServer, llm: FakeLLM, speech: Path
) -> None:
    llm.mode = "error"
    with speech.open("rb") as f:
        response = httpx.post(
            f"{live.url}/v1/audio/translations", files={"file": (speech.name, f)}, timeout=120
        )
    assert response.status_code == 502
    error = response.json()["error"]
    assert error["code"] == "translation_unavailable"
    assert "HTTP 500" in error["message"] and "model overloaded" in error["message"]
    assert "127.0.0.1" not in response.text and LLM_KEY not in response.text


def test_an_llm_refusing_the_key_is_a_502_that_quotes_neither_key_nor_address(
    live: LiveServer, llm: FakeLLM, speech: Path
) -> None:
    llm.mode = "unauthorized"  # its message quotes the key and the URL it was sent
    with pytest.raises(openai.InternalServerError) as caught:
        _translate(live.client(), speech)
    assert caught.value.status_code == 502
    error = caught.value.body
    assert isinstance(error, dict) and error["code"] == "translation_unavailable"
    assert "HTTP 401" in error["message"] and "Incorrect API key" in error["message"]
    assert LLM_KEY not in error["message"] and "127.0.0.1" not in error["message"]


def test_stream_sends_translated_segments_before_the_last_batch_is_back(
    live: LiveServer, llm: FakeLLM, speech: Path
) -> None:
    original = _transcribe(live.client(), speech, response_format="verbose_json")
    llm.hold_from = 1  # the second batch is held until the first one's segments have arrived
    with speech.open("rb") as f:
        stream = live.client().audio.transcriptions.create(
            file=f,
            model="whisper-1",
            stream=True,
            extra_body={"translate": "en", "chunking_strategy": CHUNKING},
        )
        events = []
        for event in stream:
            events.append(event)
            if event.type == "transcript.text.segment" and not llm.gate.is_set():
                assert len(llm.requests) <= 2  # the first batch answered, the second still out
                llm.gate.set()
    segments = [e for e in events if e.type == "transcript.text.segment"]
    assert [(s.start, s.end, s.text) for s in segments] == [
        (s.start, s.end, s.text.upper()) for s in original.segments
    ]
    deltas = "".join(e.delta for e in events if e.type == "transcript.text.delta")
    assert events[-1].type == "transcript.text.done"
    assert events[-1].text == deltas == original.text.upper()


def test_the_translations_route_streams_too(live: LiveServer, llm: FakeLLM, speech: Path) -> None:
    with speech.open("rb") as f:
        response = httpx.post(
            f"{live.url}/v1/audio/translations",
            files={"file": (speech.name, f)},
            data={"stream": "true", "chunking_strategy": CHUNKING},
            timeout=120,
        )
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: ")]
    done = events[-1]
    assert done["type"] == "transcript.text.done"
    assert done["text"] == done["text"].upper() and done["text"]


def test_a_failure_after_the_stream_started_is_an_error_event(
    live: LiveServer, llm: FakeLLM, speech: Path
) -> None:
    llm.mode = "wrong_ids"
    with speech.open("rb") as f, pytest.raises(openai.APIError, match="did not match"):
        for _ in live.client().audio.transcriptions.create(
            file=f,
            model="whisper-1",
            stream=True,
            extra_body={"translate": "en", "chunking_strategy": CHUNKING},
        ):
            pass


def test_word_timestamps_are_refused_with_translation(live: LiveServer, llm: FakeLLM, speech: Path) -> None:
    with pytest.raises(openai.BadRequestError, match="Word timestamps"):
        _transcribe(
            live.client(),
            speech,
            response_format="verbose_json",
            timestamp_granularities=["word"],
            extra_body={"translate": "en"},
        )
    assert llm.requests == []


def test_a_slow_llm_is_a_504(settings_factory: Callable[..., Settings], speech: Path) -> None:
    with fake_llm() as slow:
        slow.hold_from = 0  # never answers while the test runs
        server = _translating(settings_factory, slow.url, TRANSLATION_TIMEOUT_SECONDS=1)
        try:
            with pytest.raises(openai.APIStatusError) as caught:
                _translate(server.client(), speech)
        finally:
            server.stop()
    assert caught.value.status_code == 504
    assert isinstance(caught.value.body, dict) and caught.value.body["code"] == "translation_timeout"


def test_an_llm_that_is_down_is_a_502_without_its_address(
    settings_factory: Callable[..., Settings], speech: Path
) -> None:
    port = free_port()
    server = _translating(settings_factory, f"http://user:{LLM_KEY}@127.0.0.1:{port}/v1")
    try:
        with speech.open("rb") as f:
            response = httpx.post(
                f"{server.url}/v1/audio/translations", files={"file": (speech.name, f)}, timeout=120
            )
    finally:
        server.stop()
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "translation_unavailable"
    assert str(port) not in response.text and LLM_KEY not in response.text


def test_without_a_base_url_the_answer_says_how_to_enable_it(server: LiveServer, speech: Path) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        _translate(server.client(max_retries=2), speech)
    assert caught.value.status_code == 501
    assert caught.value.response.headers["x-should-retry"] == "false"
    assert isinstance(caught.value.body, dict) and caught.value.body["code"] == "translation_not_configured"
    assert "TRANSLATION_BASE_URL" in caught.value.body["message"]
    with speech.open("rb") as f:
        job = httpx.post(f"{server.url}/v1/jobs", files={"file": (speech.name, f)}, data={"translate": "en"})
    assert job.status_code == 501


def test_a_slow_llm_does_not_hold_a_running_slot(
    settings_factory: Callable[..., Settings], speech: Path
) -> None:
    """One running slot and no waiting line: a transcription arriving while another request's
    translation waits on the LLM runs at once (it would be a 503 if the slot were still held)."""
    with fake_llm() as slow, ThreadPoolExecutor(1) as pool:
        slow.hold_from = 0
        server = _translating(settings_factory, slow.url, MAX_RUNNING=1, MAX_WAITING=0)
        try:
            translating = pool.submit(_translate, server.client(), speech)
            wait_until(lambda: slow.requests, "the translation reached the LLM")
            assert _transcribe(server.client(), speech).text
            slow.gate.set()
            assert translating.result().text == translating.result().text.upper()
        finally:
            slow.gate.set()
            server.stop()


def test_a_translated_stream_frees_its_running_slot_while_the_llm_works(
    settings_factory: Callable[..., Settings], speech: Path
) -> None:
    """The run is read to its end while the LLM holds the first batch, and its slot freed then: the
    next transcription runs (one slot, no waiting line: it would be a 503 if the slot were held)."""

    def stream() -> list[Any]:
        with speech.open("rb") as f:
            return list(
                server.client().audio.transcriptions.create(
                    file=f,
                    model="whisper-1",
                    stream=True,
                    extra_body={"translate": "en", "chunking_strategy": CHUNKING},
                )
            )

    with fake_llm() as slow, ThreadPoolExecutor(1) as pool:
        slow.hold_from = 0
        server = _translating(settings_factory, slow.url, MAX_RUNNING=1, MAX_WAITING=0)
        try:
            streaming = pool.submit(stream)
            wait_until(lambda: slow.requests, "the first batch reached the LLM")
            wait_until(lambda: server.state.admission.running == 0, "the run ended while the LLM works")
            assert _transcribe(server.client(), speech).text
            slow.gate.set()
            events = streaming.result()
        finally:
            slow.gate.set()
            server.stop()
    assert events[-1].type == "transcript.text.done"
    assert events[-1].text == events[-1].text.upper() and events[-1].text


def test_a_translation_waiting_on_the_llm_is_cancelled_by_its_delete(
    settings_factory: Callable[..., Settings], speech: Path
) -> None:
    def post() -> httpx.Response:
        with speech.open("rb") as f:
            return httpx.post(
                f"{server.url}/v1/audio/translations", files={"file": (speech.name, f)}, timeout=120
            )

    with fake_llm() as slow, ThreadPoolExecutor(1) as pool:
        slow.hold_from = 0
        server = _translating(settings_factory, slow.url)
        try:
            before = server.state.cancellations.request_ids
            answer = pool.submit(post)
            wait_until(lambda: slow.requests, "the translation reached the LLM")
            [request_id] = server.state.cancellations.request_ids - before
            assert httpx.delete(f"{server.url}/v1/audio/transcriptions/{request_id}").status_code == 204
            response = answer.result(timeout=60)  # the LLM still holds its answer
        finally:
            slow.gate.set()
            server.stop()
    assert response.status_code == 499
    assert response.json()["error"]["code"] == "request_cancelled"
