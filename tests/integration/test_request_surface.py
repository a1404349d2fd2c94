"""The 2026 request surface through the official client (strict validation) against a real server:
`keywords[]` (and `hotwords`, `keyword_boost`, the glossary), `chunking_strategy=server_vad`,
`include[]=logprobs` on a stream's deltas, and `languages[]`; also through jobs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai.types.audio import (
    TranscriptionTextDeltaEvent,
    TranscriptionTextDoneEvent,
    TranscriptionTextSegmentEvent,
    TranscriptionVerbose,
)

from gigaam_api.config import Settings
from gigaam_api.engines.keywords import MAX_BOOST
from tests.fixtures.jobs import submit, wait_finished
from tests.fixtures.live_server import LiveServer, start_server
from tests.fixtures.phrases import PAUSES, PHRASES, near_miss
from tests.fixtures.speech import long_speech, write_wav


@pytest.fixture(scope="module")
def pauses_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 10 s: four phrases with pauses of known lengths (short audio: no VAD unless asked)."""
    audio, _ = long_speech(PHRASES, [0.3, *PAUSES, 0.3])
    return write_wav(tmp_path_factory.mktemp("surface") / "pauses.wav", audio)


@pytest.fixture(scope="module")
def glossary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("glossary") / "keywords.txt"
    path.write_text("", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def live(settings_factory: Callable[..., Settings], glossary: Path) -> Iterator[LiveServer]:
    server = start_server(settings_factory(KEYWORDS_FILE=glossary))
    yield server
    server.stop()


@pytest.fixture
def client(live: LiveServer) -> openai.OpenAI:
    return live.client()


def _file(path: Path) -> tuple[str, bytes]:
    return ("upload", path.read_bytes())


def _verbose(client: openai.OpenAI, path: Path, **kwargs: Any) -> TranscriptionVerbose:
    result = client.audio.transcriptions.create(
        model="gigaam-v3-ctc", file=_file(path), response_format="verbose_json", **kwargs
    )
    assert isinstance(result, TranscriptionVerbose)
    return result


def _server_vad(silence_ms: int) -> Any:
    return {"type": "server_vad", "silence_duration_ms": silence_ms}


# ---- chunking_strategy ---------------------------------------------------------------------------


def test_silence_duration_ms_decides_where_segments_end(client: openai.OpenAI, pauses_wav: Path) -> None:
    default = _verbose(client, pauses_wav)
    auto = _verbose(client, pauses_wav, chunking_strategy="auto")
    short = _verbose(client, pauses_wav, chunking_strategy=_server_vad(200))
    long = _verbose(client, pauses_wav, chunking_strategy=_server_vad(2000))

    assert auto.segments == default.segments  # "auto" is the server's own chunking
    assert short.segments is not None and long.segments is not None
    assert len(short.segments) == len(PHRASES)  # every pause of 200 ms or more ends a segment
    assert len(long.segments) == 1  # no pause is 2 s long
    assert short.text.replace(" ", "") != "" and long.text.strip()


def test_server_vad_in_the_stream_and_in_a_job(
    client: openai.OpenAI, live: LiveServer, pauses_wav: Path
) -> None:
    stream = client.audio.transcriptions.create(
        model="gigaam-v3-ctc", file=_file(pauses_wav), stream=True, chunking_strategy=_server_vad(200)
    )
    events = list(stream)
    assert len([e for e in events if isinstance(e, TranscriptionTextSegmentEvent)]) == len(PHRASES)

    job = submit(
        live.url, pauses_wav, chunking_strategy=json.dumps(_server_vad(200)), response_format="verbose_json"
    )
    assert wait_finished(live.url, job["id"])["status"] == "succeeded"
    result = httpx.get(f"{live.url}/v1/jobs/{job['id']}/result", timeout=30).json()
    assert len(result["segments"]) == len(PHRASES)


@pytest.mark.parametrize(
    "strategy",
    [
        {"type": "server_vad", "silence_duration_ms": 20_000},
        {"type": "server_vad", "threshold": 0},
        {"type": "server_vad", "prefix_padding_ms": "lots"},
    ],
)
def test_nonsense_server_vad_is_a_400_naming_the_field(
    client: openai.OpenAI, pauses_wav: Path, strategy: Any
) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.audio.transcriptions.create(
            model="gigaam-v3-ctc", file=_file(pauses_wav), chunking_strategy=strategy
        )
    assert info.value.param == "chunking_strategy"
    field = next(name for name in strategy if name != "type")
    assert f"chunking_strategy.{field}" in info.value.message


# ---- include[]=logprobs on the stream -------------------------------------------------------------


def test_every_delta_carries_the_logprobs_of_its_text(client: openai.OpenAI, pauses_wav: Path) -> None:
    stream = client.audio.transcriptions.create(
        model="gigaam-v3-ctc",
        file=_file(pauses_wav),
        stream=True,
        include=["logprobs"],
        chunking_strategy=_server_vad(200),
    )
    events = list(stream)
    deltas = [e for e in events if isinstance(e, TranscriptionTextDeltaEvent)]
    done = events[-1]
    assert isinstance(done, TranscriptionTextDoneEvent) and done.logprobs
    assert len(deltas) == len(PHRASES)
    for delta in deltas:
        assert delta.logprobs, delta
        assert "".join(lp.token or "" for lp in delta.logprobs) == delta.delta
        assert all(lp.logprob is not None and lp.logprob <= 0 for lp in delta.logprobs)
        assert all(bytes(lp.bytes or []) == (lp.token or "").encode() for lp in delta.logprobs)
    in_deltas = [lp.model_dump() for d in deltas for lp in d.logprobs or []]
    assert in_deltas == [lp.model_dump() for lp in done.logprobs]


def test_deltas_without_include_have_no_logprobs(client: openai.OpenAI, pauses_wav: Path) -> None:
    events = list(
        client.audio.transcriptions.create(model="gigaam-v3-ctc", file=_file(pauses_wav), stream=True)
    )
    assert all(
        e.logprobs is None
        for e in events
        if isinstance(e, TranscriptionTextDeltaEvent | TranscriptionTextDoneEvent)
    )


# ---- keywords --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keyword(live: LiveServer, pauses_wav: Path) -> str:
    """A word greedy decoding did not write, one letter away from one it did."""
    greedy = _verbose(live.client(), pauses_wav)
    heard = next(w for w in _words(greedy) if len(w) >= 4 and w.isalpha())
    near = near_miss(heard)
    assert near not in _words(greedy)
    return near


def _words(result: TranscriptionVerbose) -> list[str]:
    return [w.strip(",.?").lower() for w in result.text.split()]


def test_keywords_steer_recognition(client: openai.OpenAI, pauses_wav: Path, keyword: str) -> None:
    greedy = _verbose(client, pauses_wav)
    boosted = {"keyword_boost": MAX_BOOST}
    steered = _verbose(client, pauses_wav, keywords=[keyword], extra_body=boosted)
    hot = _verbose(client, pauses_wav, extra_body={"hotwords": [keyword], **boosted})

    assert keyword not in _words(greedy)
    assert keyword in _words(steered)
    assert hot.text == steered.text  # `hotwords` is another name for the same list


def test_the_glossary_applies_to_every_request_and_reloads(
    client: openai.OpenAI, live: LiveServer, pauses_wav: Path, keyword: str, glossary: Path
) -> None:
    greedy = _verbose(client, pauses_wav)
    boosted = {"keyword_boost": MAX_BOOST}
    try:
        glossary.write_text(f"# names\n{keyword}\n", encoding="utf-8")
        assert keyword in _words(_verbose(client, pauses_wav, extra_body=boosted))
        stream = client.audio.transcriptions.create(
            model="gigaam-v3-ctc", file=_file(pauses_wav), stream=True, extra_body=boosted
        )
        done = list(stream)[-1]
        assert isinstance(done, TranscriptionTextDoneEvent) and keyword in done.text.lower()
        job = submit(live.url, pauses_wav, keyword_boost=str(MAX_BOOST))
        assert wait_finished(live.url, job["id"])["status"] == "succeeded"
        assert (
            keyword in httpx.get(f"{live.url}/v1/jobs/{job['id']}/result", timeout=30).json()["text"].lower()
        )
    finally:
        glossary.write_text("# emptied\n", encoding="utf-8")
    assert _verbose(client, pauses_wav, extra_body=boosted).text == greedy.text


def test_a_job_keeps_its_keywords(live: LiveServer, pauses_wav: Path, keyword: str) -> None:
    job = submit(live.url, pauses_wav, **{"keywords[]": keyword, "keyword_boost": str(MAX_BOOST)})
    assert wait_finished(live.url, job["id"])["status"] == "succeeded"
    text = httpx.get(f"{live.url}/v1/jobs/{job['id']}/result", timeout=30).json()["text"]
    assert keyword in text.lower()


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"keywords": ["Sberbank"]}, ("keywords", "'Sberbank'")),
        ({"keywords": ["а" * 51]}, ("keywords", "50 characters")),
        ({"keywords": ["сбер"], "extra_body": {"keyword_boost": 11}}, ("keyword_boost", "between 0 and 10")),
        ({"extra_body": {"keyword_boost": "much"}}, ("keyword_boost", "'much'")),
    ],
)
def test_keyword_limits_are_400s_naming_the_field(
    client: openai.OpenAI,
    live: LiveServer,
    pauses_wav: Path,
    kwargs: dict[str, Any],
    expected: tuple[str, str],
) -> None:
    param, says = expected
    with pytest.raises(openai.BadRequestError) as info:
        client.audio.transcriptions.create(model="gigaam-v3-ctc", file=_file(pauses_wav), **kwargs)
    assert info.value.param == param and says in info.value.message
    fields = {"keywords[]": kwargs.get("keywords", []), **kwargs.get("extra_body", {})}
    with pauses_wav.open("rb") as f:
        response = httpx.post(f"{live.url}/v1/jobs", files={"file": f}, data=fields, timeout=30)
    assert response.status_code == 400 and response.json()["error"]["param"] == param


# ---- languages[] -----------------------------------------------------------------------------------


def test_languages_route_like_language(client: openai.OpenAI, pauses_wav: Path) -> None:
    assert _verbose(client, pauses_wav, languages=["ru"]).language == "russian"
    with pytest.raises(openai.BadRequestError) as info:
        _verbose(client, pauses_wav, languages=["en"])
    assert info.value.param == "language"  # one language is `language`
    with pytest.raises(openai.BadRequestError) as info:
        _verbose(client, pauses_wav, languages=["ru", "en"])
    assert info.value.param == "languages" and "ru, en" in info.value.message


# ---- the OpenAPI document --------------------------------------------------------------------------


def test_the_openapi_document_describes_the_request_surface(live: LiveServer) -> None:
    document = httpx.get(f"{live.url}/openapi.json", timeout=30).json()
    for path in ("/v1/audio/transcriptions", "/v1/jobs"):
        body = document["paths"][path]["post"]["requestBody"]["content"]["multipart/form-data"]
        fields = body["schema"]["properties"]
        assert {
            "file",
            "keywords[]",
            "keyword_boost",
            "chunking_strategy",
            "include[]",
            "languages[]",
        } <= set(fields)
        assert fields["include[]"]["items"]["enum"] == ["logprobs", "progress"]
        vad = fields["chunking_strategy"]["oneOf"][1]["properties"]
        assert set(vad) == {"type", "threshold", "silence_duration_ms", "prefix_padding_ms"}
        assert fields["keywords[]"]["maxItems"] == 100 and fields["keyword_boost"]["maximum"] == 10
