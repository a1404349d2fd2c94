"""Diarization through the API, with the official `openai` client (strict response validation) against a
real server whose MODELS_DIR holds the GE2E speaker model (tests/fixtures/speaker_model.py), on a
conversation of three espeak-ng voices (tests/fixtures/conversations.py)."""

from __future__ import annotations

import base64
import itertools
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import openai
import pytest
from openai.types.audio import (
    TranscriptionDiarized,
    TranscriptionTextDoneEvent,
    TranscriptionTextSegmentEvent,
    TranscriptionVerbose,
)

from gigaam_api.audio.rate import SAMPLE_RATE
from gigaam_api.speakers.turns import Turn
from tests.fixtures.conversations import (
    PHRASES,
    THREE,
    TWO,
    VOICES,
    conversation,
    diarization_error_rate,
    say,
)
from tests.fixtures.jobs import submit, wait_finished
from tests.fixtures.live_server import LiveServer, offline_speaker_server
from tests.fixtures.speech import write_wav

pytestmark = pytest.mark.integration

MAX_SEGMENT_DER = 0.25  # segments' times come from the tiny model's words, not the turns themselves


@pytest.fixture(scope="module")
def live(speaker_models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = offline_speaker_server(
        speaker_models_dir,
        tmp_path_factory.mktemp("spool"),
        tmp_path_factory.mktemp("jobs"),
        UPLOADS_PER_CLIENT_SHARE=1,
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def call(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Turn]]:
    audio, truth = conversation(*THREE)
    return write_wav(tmp_path_factory.mktemp("call") / "call.wav", audio), truth


@pytest.fixture(scope="module")
def olga_clip(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A data URL of Olga saying something the conversation does not (about 4 s)."""
    path = write_wav(tmp_path_factory.mktemp("ref") / "olga.wav", say(VOICES[1], PHRASES[9]))
    return "data:audio/wav;base64," + base64.b64encode(path.read_bytes()).decode()


@pytest.fixture
def client(live: LiveServer) -> openai.OpenAI:
    return live.client()


def turns_of(segments: Any) -> list[Turn]:
    return [Turn(s.start, s.end, s.speaker) for s in segments]


def transcribe(client: openai.OpenAI, path: Path, **kwargs: Any) -> Any:
    kwargs.setdefault("model", "whisper-1")
    with path.open("rb") as f:
        return client.audio.transcriptions.create(file=f, **kwargs)


def test_diarized_json_through_the_diarize_model_alias(
    client: openai.OpenAI, call: tuple[Path, list[Turn]]
) -> None:
    path, truth = call
    assert "gpt-4o-transcribe-diarize" in [m.id for m in client.models.list()]

    result = transcribe(
        client,
        path,
        model="gpt-4o-transcribe-diarize",
        response_format="diarized_json",
        chunking_strategy="auto",
    )

    assert isinstance(result, TranscriptionDiarized)
    assert result.task == "transcribe" and result.duration > 20
    assert {s.speaker for s in result.segments} == {"A", "B", "C"}
    assert result.segments[0].speaker == "A"
    assert all(s.type == "transcript.text.segment" and s.text for s in result.segments)
    assert [s.id for s in result.segments] == [str(i) for i in range(len(result.segments))]
    assert result.text == " ".join(s.text for s in result.segments)
    der = diarization_error_rate(truth, turns_of(result.segments))
    print(f"segment DER {der:.3f}")
    assert der <= MAX_SEGMENT_DER


def test_diarize_true_labels_every_format(client: openai.OpenAI, call: tuple[Path, list[Turn]]) -> None:
    path, _ = call
    verbose = transcribe(
        client, path, model="gigaam-v3-ctc", response_format="verbose_json", extra_body={"diarize": "true"}
    )
    assert isinstance(verbose, TranscriptionVerbose) and verbose.segments
    speakers = [s.model_extra["speaker"] for s in verbose.segments if s.model_extra]
    assert len(speakers) == len(verbose.segments) and set(speakers) == {"A", "B", "C"}

    text = transcribe(client, path, response_format="text", extra_body={"diarize": "true"})
    lines = text.strip().split("\n")
    assert [line.split(": ", 1)[0] for line in lines][:1] == ["A"]
    assert {line.split(": ", 1)[0] for line in lines} == {"A", "B", "C"}  # one line a turn:
    assert all(a.split(": ")[0] != b.split(": ")[0] for a, b in itertools.pairwise(lines))

    srt = transcribe(client, path, response_format="srt", extra_body={"diarize": "true"})
    cue_speakers = re.findall(r"^\d\d:\d\d:\d\d,\d{3} --> .*\n(\w+): ", srt, flags=re.MULTILINE)
    assert set(cue_speakers) == {"A", "B", "C"} and cue_speakers[0] == "A"

    vtt = transcribe(client, path, response_format="vtt", extra_body={"diarize": "true"})
    voices = re.findall(r"^\d\d:\d\d:\d\d\.\d{3} --> .*\n<v (\w+)>", vtt, flags=re.MULTILINE)
    assert set(voices) == {"A", "B", "C"} and len(voices) == vtt.count(" --> ")

    plain = transcribe(client, path, response_format="verbose_json")
    assert all(not s.model_extra or "speaker" not in s.model_extra for s in plain.segments)


@pytest.mark.parametrize(
    ("hint", "count"), [({"speakers": "2"}, 2), ({"max_speakers": "2"}, 2), ({"min_speakers": "3"}, 3)]
)
def test_a_speaker_count_hint_is_followed(
    client: openai.OpenAI, call: tuple[Path, list[Turn]], hint: dict[str, str], count: int
) -> None:
    path, _ = call
    result = transcribe(client, path, response_format="diarized_json", extra_body=hint)
    assert {s.speaker for s in result.segments} == set("ABC"[:count])


def test_known_speakers_are_named(
    client: openai.OpenAI, call: tuple[Path, list[Turn]], olga_clip: str
) -> None:
    path, truth = call
    result = transcribe(
        client,
        path,
        model="gpt-4o-transcribe-diarize",
        response_format="diarized_json",
        known_speaker_names=["Olga"],
        known_speaker_references=[olga_clip],
    )
    assert {s.speaker for s in result.segments} == {"Olga", "A", "B"}
    olga = [t for t in truth if t.speaker == "Olga"]
    named = [s for s in result.segments if s.speaker == "Olga"]
    # Every segment named Olga lies mostly inside one of her lines.
    for segment in named:
        inside = max(min(segment.end, t.end) - max(segment.start, t.start) for t in olga)
        assert inside >= 0.5 * (segment.end - segment.start), segment


def test_known_speakers_in_a_json_body_are_named(
    live: LiveServer, call: tuple[Path, list[Turn]], olga_clip: str
) -> None:
    """Open WebUI's JSON body with OpenAI's `known_speaker_references` data URLs: named as in a form."""
    path, _ = call
    body = {
        "model": "gpt-4o-transcribe-diarize",
        "response_format": "diarized_json",
        "input_audio": {"data": base64.b64encode(path.read_bytes()).decode(), "format": "wav"},
        "known_speaker_names": ["Olga"],
        "known_speaker_references": [olga_clip],
    }
    response = httpx.post(f"{live.url}/v1/audio/transcriptions", json=body, timeout=120)
    assert response.status_code == 200, response.text
    result = TranscriptionDiarized.model_validate(response.json(), strict=True)
    assert {s.speaker for s in result.segments} == {"Olga", "A", "B"}

    body["known_speaker_references"] = [olga_clip] * 5
    response = httpx.post(f"{live.url}/v1/audio/transcriptions", json=body, timeout=120)
    assert response.status_code == 400 and response.json()["error"]["param"] == "known_speaker_references"
    assert not list(live.state.settings.SPOOL_DIR.rglob("*.reference"))  # nothing left behind


def test_stream_sends_segments_with_speakers_then_done(
    client: openai.OpenAI, call: tuple[Path, list[Turn]]
) -> None:
    path, _ = call
    with path.open("rb") as f:
        stream = client.audio.transcriptions.create(
            file=f, model="gpt-4o-transcribe-diarize", response_format="diarized_json", stream=True
        )
        events = list(stream)
    segments = [e for e in events if isinstance(e, TranscriptionTextSegmentEvent)]
    assert isinstance(events[-1], TranscriptionTextDoneEvent)
    assert segments and {s.speaker for s in segments} <= {"A", "B", "C"}
    assert len({s.speaker for s in segments}) >= 2
    assert events[-1].text == " ".join(s.text for s in segments)
    # The done event carries the final labels, as the non-stream result has them.
    final = [
        TranscriptionTextSegmentEvent.model_validate(s) for s in (events[-1].model_extra or {})["segments"]
    ]
    result = transcribe(client, path, model="gpt-4o-transcribe-diarize", response_format="diarized_json")
    assert [(s.speaker, s.text) for s in final] == [(s.speaker, s.text) for s in result.segments]


def post(live: LiveServer, path: Path, data: dict[str, Any]) -> httpx.Response:
    with path.open("rb") as f:
        return httpx.post(
            f"{live.url}/v1/audio/transcriptions",
            files={"file": ("call.wav", f, "audio/wav")},
            data=data,
            timeout=120,
        )


@pytest.mark.parametrize(
    ("fields", "param", "words"),
    [
        ({"speakers": "2"}, "speakers", "needs diarization"),
        ({"diarize": "true", "speakers": "0"}, "speakers", "from 1 to"),
        ({"diarize": "true", "speakers": "2", "max_speakers": "3"}, "speakers", "not both"),
        ({"diarize": "true", "min_speakers": "3", "max_speakers": "2"}, "min_speakers", "above"),
        ({"response_format": "diarized_json", "diarize": "false"}, "diarize", "contradicts"),
        (
            {"diarize": "true", "known_speaker_names[]": ["Olga"]},
            "known_speaker_references",
            "1 known_speaker_names but 0",
        ),
        (
            {"diarize": "true", "known_speaker_names[]": [f"n{i}" for i in range(5)]},
            "known_speaker_names",
            "at most 4",
        ),
        (
            {"diarize": "true", "known_speaker_names[]": "Olga", "known_speaker_references[]": "aGVsbG8="},
            "known_speaker_references",
            "data URL",
        ),
        (
            {
                "diarize": "true",
                "known_speaker_names[]": "Olga",
                "known_speaker_references[]": "data:audio/wav;base64,@@@@",
            },
            "known_speaker_references",
            "base64",
        ),
    ],
)
def test_bad_diarization_fields_get_a_clear_400(
    live: LiveServer, call: tuple[Path, list[Turn]], fields: dict[str, Any], param: str, words: str
) -> None:
    response = post(live, call[0], fields)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == param and words in error["message"], error


def test_reference_clips_outside_2_to_10_seconds_and_too_many_are_refused(
    live: LiveServer, call: tuple[Path, list[Turn]], tmp_path: Path, olga_clip: str
) -> None:
    short = write_wav(tmp_path / "short.wav", say(VOICES[1], PHRASES[3]))  # "Да, конечно.": under 2 s
    data_url = "data:audio/wav;base64," + base64.b64encode(short.read_bytes()).decode()
    fields = {"diarize": "true", "known_speaker_names[]": "Olga", "known_speaker_references[]": data_url}
    response = post(live, call[0], fields)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == "known_speaker_references" and "2-10 s" in error["message"], error

    # A 15-s clip: it said "longer than the limit of 11 seconds", a limit the client never heard of.
    long_clip = write_wav(tmp_path / "long.wav", np.resize(say(VOICES[1], PHRASES[0]), 15 * SAMPLE_RATE))
    fields["known_speaker_references[]"] = (
        "data:audio/wav;base64," + base64.b64encode(long_clip.read_bytes()).decode()
    )
    response = post(live, call[0], fields)
    error = response.json()["error"]
    assert response.status_code == 400 and "2-10 s" in error["message"] and "11" not in error["message"]

    five = {"diarize": "true", "known_speaker_references[]": [olga_clip] * 5}
    response = post(live, call[0], five)
    assert response.status_code == 400 and response.json()["error"]["param"] == "known_speaker_references"
    assert not list(live.state.settings.SPOOL_DIR.rglob("*.reference"))  # nothing left behind


def test_a_diarized_job_stores_the_final_speakers(live: LiveServer, call: tuple[Path, list[Turn]]) -> None:
    path, _ = call
    job = submit(live.url, path, diarize="true", speakers="3")
    assert wait_finished(live.url, job["id"])["status"] == "succeeded"

    response = httpx.get(f"{live.url}/v1/jobs/{job['id']}/result?response_format=diarized_json", timeout=30)
    result = TranscriptionDiarized.model_validate(response.json(), strict=True)
    assert {s.speaker for s in result.segments} == {"A", "B", "C"}
    assert result.segments[0].speaker == "A"
    srt = httpx.get(f"{live.url}/v1/jobs/{job['id']}/result?response_format=srt", timeout=30).text
    assert "\nA: " in srt


def test_a_job_names_known_speakers_and_keeps_their_clips_only_as_long_as_its_audio(
    live: LiveServer, call: tuple[Path, list[Turn]], olga_clip: str, tmp_path: Path
) -> None:
    def submit_with(references: list[str], names: list[str]) -> httpx.Response:
        with call[0].open("rb") as f:
            return httpx.post(
                f"{live.url}/v1/jobs",
                files={"file": ("call.wav", f)},
                data={
                    "diarize": "true",
                    "known_speaker_names[]": names,
                    "known_speaker_references[]": references,
                },
                timeout=60,
            )

    response = submit_with([olga_clip], ["Olga"])
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    clips = list(live.state.settings.JOBS_DIR.rglob(f"{job_id}.ref*"))
    assert len(clips) == 1  # kept with the job's audio: a resumed run needs it too
    assert wait_finished(live.url, job_id)["status"] == "succeeded"
    result = httpx.get(f"{live.url}/v1/jobs/{job_id}/result?response_format=diarized_json", timeout=30)
    assert {s.speaker for s in TranscriptionDiarized.model_validate(result.json(), strict=True).segments} == {
        "Olga",
        "A",
        "B",
    }
    assert httpx.delete(f"{live.url}/v1/jobs/{job_id}", timeout=30).status_code == 200
    assert not any(c.exists() for c in clips)

    # Names and clips that do not pair up: refused at submission, as the synchronous route does.
    response = submit_with([olga_clip, olga_clip], ["Olga"])  # a clip without a name
    assert response.status_code == 400 and response.json()["error"]["param"] == "known_speaker_names"
    # A clip of the wrong length is found when the job runs: it fails with the same words.
    short = write_wav(tmp_path / "short.wav", say(VOICES[1], PHRASES[3]))
    response = submit_with(
        ["data:audio/wav;base64," + base64.b64encode(short.read_bytes()).decode()], ["Olga"]
    )
    assert response.status_code == 202, response.text
    failed = wait_finished(live.url, response.json()["id"])
    assert failed["status"] == "failed" and "2-10 s" in failed["error"]["message"], failed


def run_cli(models_dir: Path, tmp_path: Path, *args: str | Path) -> str:
    """`gigaam-api transcribe ARGS` on the speaker test models; its standard output."""
    env = {k: v for k, v in os.environ.items() if k not in {"MODEL", "LOG_LEVEL"}}
    env.update(
        MODELS_DIR=str(models_dir),
        OFFLINE="true",
        SPOOL_DIR=str(tmp_path / "spool"),
        NUM_THREADS="1",
        GIGAAM_RUNTIME="onnxruntime",
        GIGAAM_PRECISION="fp32",
    )
    command = [str(Path(sys.executable).with_name("gigaam-api")), "transcribe", *map(str, args)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_cli_diarizes_like_the_api(
    live: LiveServer, call: tuple[Path, list[Turn]], speaker_models_dir: Path, tmp_path: Path
) -> None:
    path, _ = call

    def cli(*args: str) -> str:
        return run_cli(speaker_models_dir, tmp_path, path, *args)

    assert (
        cli("--diarize", "-f", "text")
        == post(live, path, {"diarize": "true", "response_format": "text"}).text
    )
    two = cli("--speakers", "2", "-f", "srt")
    assert set(re.findall(r"^(\w+): ", two, flags=re.MULTILINE)) == {"A", "B"}


def test_the_web_page_shows_coloured_speakers_renamable_before_download(
    live: LiveServer, call: tuple[Path, list[Turn]]
) -> None:
    from playwright.sync_api import Dialog, expect

    from tests.fixtures.browser import downloaded, opened_page, transcribed

    path, _ = call
    api_srt = post(live, path, {"diarize": "true", "response_format": "srt"}).text
    with opened_page(live.url) as page:
        page.check("#diarize-check")
        job = transcribed(page, path)
        badges = job.locator(".segments .speaker")
        labels = badges.all_text_contents()
        assert labels[0] == "A" and set(labels) == {"A", "B", "C"}
        colours = {
            label: badge.get_attribute("data-colour")
            for label, badge in zip(labels, badges.all(), strict=True)
        }
        assert len(set(colours.values())) == 3

        def answer(dialog: Dialog) -> None:
            dialog.accept("Ведущий")

        page.on("dialog", answer)
        badges.first.click()
        expect(badges.filter(has_text="Ведущий")).to_have_count(labels.count("A"))
        assert "A" not in badges.all_text_contents()
        assert badges.first.get_attribute("data-colour") == colours["A"]  # the colour stays
        page_srt = downloaded(page, job, "srt")
    assert page_srt == re.sub(r"^A: ", "Ведущий: ", api_srt, flags=re.MULTILINE)


def stereo_call() -> np.ndarray[Any, np.dtype[np.float32]]:
    """The two-voice conversation recorded as a call: Ivan alone on the left channel, Olga on the right."""
    lines, gaps = TWO
    mix, truth = conversation(lines, gaps)
    stereo = np.zeros((len(mix), 2), np.float32)
    for (voice, text), turn in zip(lines, truth, strict=True):
        clip = say(VOICES[voice], text)
        start = round(turn.start * SAMPLE_RATE)
        stereo[start : start + len(clip), voice] += clip
    return stereo


def test_a_stereo_call_is_transcribed_per_channel(
    client: openai.OpenAI,
    live: LiveServer,
    call: tuple[Path, list[Turn]],
    speaker_models_dir: Path,
    tmp_path: Path,
) -> None:
    stereo = stereo_call()
    path = write_wav(tmp_path / "stereo.wav", stereo, channels=2)

    result = transcribe(client, path, response_format="diarized_json", extra_body={"per_channel": "true"})

    assert {s.speaker for s in result.segments} == {"A", "B"}
    assert [s.start for s in result.segments] == sorted(s.start for s in result.segments)
    assert [s.id for s in result.segments] == [str(i) for i in range(len(result.segments))]
    # Each side is what that channel alone, as a mono file, transcribes to; the two interleaved by time.
    for speaker, channel in (("A", 0), ("B", 1)):
        alone = transcribe(
            client, write_wav(tmp_path / f"{channel}.wav", stereo[:, channel]), response_format="verbose_json"
        )
        expected = [(s.start, s.end, s.text) for s in alone.segments or () if s.text]
        assert [(s.start, s.end, s.text) for s in result.segments if s.speaker == speaker] == expected

    mono = post(live, call[0], {"per_channel": "true"})
    assert mono.status_code == 400 and mono.json()["error"]["param"] == "per_channel"
    assert "1 channel" in mono.json()["error"]["message"]
    api_text = post(live, path, {"per_channel": "true", "response_format": "text"}).text
    assert run_cli(speaker_models_dir, tmp_path, path, "--per-channel") == api_text
    assert api_text.startswith("A: ") and "\nB: " in api_text
    hinted = post(live, path, {"per_channel": "true", "speakers": "2"})
    assert hinted.status_code == 400 and hinted.json()["error"]["param"] == "speakers"


def test_a_stereo_call_is_detected_without_per_channel(client: openai.OpenAI, tmp_path: Path) -> None:
    path = write_wav(tmp_path / "stereo.wav", stereo_call(), channels=2)

    def segments(file: Path, **body: str) -> list[tuple[str | None, float, float, str]]:
        result = transcribe(client, file, response_format="diarized_json", extra_body=body)
        return [(s.speaker, s.start, s.end, s.text) for s in result.segments]

    detected = segments(path)
    assert {speaker for speaker, *_ in detected} == {"A", "B"}
    assert detected == segments(path, per_channel="true")  # A the left channel, B the right
    assert segments(path, per_channel="false") != detected  # explicitly off: the speaker model's turns

    # The same voices on both channels (a mono recording saved as stereo) are not a call: diarized as a
    # whole, each line once, where per channel would give every line twice, once as A and once as B.
    duplicated = write_wav(tmp_path / "duplicated.wav", conversation(*TWO)[0], channels=2)
    diarized = segments(duplicated)
    split = segments(duplicated, per_channel="true")
    assert diarized == segments(duplicated, per_channel="false")
    assert sorted(s[1:] for s in split if s[0] == "A") == sorted(s[1:] for s in split if s[0] == "B")
    assert len({(start, text) for _, start, _, text in diarized}) == len(diarized) and diarized != split
