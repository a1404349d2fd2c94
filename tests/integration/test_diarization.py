"""Diarization with a real pretrained speaker model (resemblyzer's GE2E, exported by
tests/fixtures/speaker_model.py) on conversations of espeak-ng voices, chunked by the real Silero VAD.

DER is scored by tests/fixtures/conversations.py (no collar, overlaps per speaker, optimal mapping).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from gigaam_api.audio.rate import SAMPLE_RATE
from gigaam_api.audio.spool import SpoolDir
from gigaam_api.config import Settings, load_settings
from gigaam_api.engines.base import ChunkPolicy, EngineOptions
from gigaam_api.errors import APIError
from gigaam_api.pipeline.assembly import build_transcriber
from gigaam_api.pipeline.chunk_plan import chunking_settings
from gigaam_api.pipeline.protocol import SpeakerTurns
from gigaam_api.speakers.base import SpeakerEmbedder
from gigaam_api.speakers.diarizer import Diarizer
from gigaam_api.speakers.options import DiarizationOptions, KnownSpeaker
from gigaam_api.speakers.registry import create_embedder
from gigaam_api.speakers.turns import Turn, attribute
from gigaam_api.transcript import Segment, Word
from gigaam_api.vad.chunking import plan_chunks
from gigaam_api.vad.silero import SileroVad
from tests.fixtures.conversations import (
    FOUR,
    PHRASES,
    THREE,
    TWO,
    VOICES,
    Script,
    conversation,
    diarization_error_rate,
    say,
)
from tests.fixtures.speech import Audio, write_wav

pytestmark = pytest.mark.integration

MAX_DER = 0.15  # measured 0.04-0.08 on these (docs/speakers.md)


@pytest.fixture(scope="module")
def embedder(speaker_models_dir: Path) -> SpeakerEmbedder:
    return create_embedder(load_settings(_env_file=None, MODELS_DIR=speaker_models_dir, OFFLINE=True))


GIGAAM_CHUNKS = ChunkPolicy(30.0, preferred_seconds=22.0, whole=False)  # GigaAM's chunk policy


@pytest.fixture(scope="module")
def vad() -> SileroVad:
    return SileroVad()


def diarize(diarizer: Diarizer, vad: SileroVad, audio: Audio) -> tuple[list[Turn], list[Turn]]:
    """Online and final turns for the chunks the real VAD and chunker find, fed in order."""
    online: list[Turn] = []
    for chunk in plan_chunks(vad.probabilities(audio), chunking_settings(Settings(), GIGAAM_CHUNKS)):
        online += diarizer.feed(chunk.start / SAMPLE_RATE, audio[chunk.start : chunk.end])
    return online, diarizer.finish()


def speakers(turns: Sequence[Turn]) -> set[str]:
    return {t.speaker for t in turns}


@pytest.mark.parametrize(("script", "count"), [(TWO, 2), (THREE, 3), (FOUR, 4)], ids=["2", "3", "4"])
def test_conversations_get_their_number_of_speakers_and_a_low_der(
    embedder: SpeakerEmbedder, vad: SileroVad, script: Script, count: int
) -> None:
    audio, truth = conversation(*script)

    online, final = diarize(Diarizer(embedder), vad, audio)

    assert speakers(final) == set("ABCD"[:count])
    assert final[0].speaker == "A"  # labelled in order of first appearance
    der = diarization_error_rate(truth, final)
    print(f"{count} voices: DER {der:.3f}, online {diarization_error_rate(truth, online):.3f}")
    assert der <= MAX_DER


def named_accuracy(truth: Sequence[Turn], found: Sequence[Turn], frame: float = 0.01) -> float:
    """The share of the truth's single-speaker time whose found label is the truth's name (no mapping)."""
    hits = total = 0
    for turn in truth:
        others = [t for t in truth if t is not turn and t.start < turn.end and t.end > turn.start]
        for i in range(round(turn.start / frame), round(turn.end / frame)):
            moment = (i + 0.5) * frame
            if any(o.start <= moment < o.end for o in others):
                continue  # overlapped speech: either name is right
            total += 1
            hits += any(f.start <= moment < f.end and f.speaker == turn.speaker for f in found)
    return hits / total


def test_known_speakers_are_named_and_the_others_get_letters(
    embedder: SpeakerEmbedder, vad: SileroVad
) -> None:
    audio, truth = conversation(*THREE)
    diarizer = Diarizer(embedder, DiarizationOptions())
    # Reference clips say something else than the conversation.
    diarizer.enroll("Olga", say(VOICES[1], PHRASES[9]))
    diarizer.enroll("Ivan", say(VOICES[0], PHRASES[9]))

    online, final = diarize(diarizer, vad, audio)

    assert speakers(final) == {"Ivan", "Olga", "A"}
    renamed = [Turn(t.start, t.end, "A" if t.speaker == VOICES[2].name else t.speaker) for t in truth]
    assert named_accuracy(renamed, final) >= 0.85
    assert speakers(online) == {"Ivan", "Olga", "A"}


def test_a_reference_clip_outside_2_to_10_seconds_is_refused(embedder: SpeakerEmbedder) -> None:
    diarizer = Diarizer(embedder)
    with pytest.raises(ValueError, match="2-10 s"):
        diarizer.enroll("Olga", say(VOICES[1], PHRASES[3]))  # "Да, конечно." is under 2 s


@pytest.mark.parametrize(
    ("script", "options", "count"),
    [(THREE, DiarizationOptions(speakers=2), 2), (FOUR, DiarizationOptions(max_speakers=3), 3),
     (TWO, DiarizationOptions(min_speakers=2, max_speakers=5), 2)],
    ids=["exact", "max", "range"],
)  # fmt: skip
def test_a_speaker_count_hint_is_followed(
    embedder: SpeakerEmbedder,
    vad: SileroVad,
    script: Script,
    options: DiarizationOptions,
    count: int,
) -> None:
    audio, _ = conversation(*script)
    _, final = diarize(Diarizer(embedder, options), vad, audio)
    assert speakers(final) == set("ABCD"[:count])


def test_a_segment_across_a_quick_turn_is_split_between_the_speakers(
    embedder: SpeakerEmbedder, vad: SileroVad
) -> None:
    audio, truth = conversation(*TWO)
    _, final = diarize(Diarizer(embedder), vad, audio)
    first, second = truth[1], truth[2]  # Olga, then Ivan 0.15 s later
    words = [  # two words a phrase, each half of it
        Word(
            f"{name}{i}",
            round(t.start + i * (t.end - t.start) / 2, 3),
            round(t.start + (i + 1) * (t.end - t.start) / 2, 3),
        )
        for t, name in ((first, "olga"), (second, "ivan"))
        for i in range(2)
    ]
    segment = Segment(5, first.start, second.end, " ".join(w.word for w in words), words=tuple(words))

    pieces = attribute([segment], final)

    assert [(p.id, p.speaker, p.text) for p in pieces] == [(5, "B", "olga0 olga1"), (6, "A", "ivan0 ivan1")]
    assert pieces[0].start == segment.start and pieces[1].end == segment.end


def test_the_pipeline_labels_segments_online_and_ends_with_the_final_turns(
    speaker_models_dir: Path, tmp_path: Path
) -> None:
    audio, truth = conversation(*THREE)
    upload = write_wav(tmp_path / "call.wav", audio)
    references = [KnownSpeaker("Olga", write_wav(tmp_path / "olga.wav", say(VOICES[1], PHRASES[9])))]
    settings = load_settings(
        _env_file=None, MODELS_DIR=speaker_models_dir, OFFLINE=True, SPOOL_DIR=tmp_path / "spool"
    )

    async def run(options: DiarizationOptions) -> list[object]:
        transcriber, stop = build_transcriber(settings)
        try:
            with SpoolDir(tmp_path / "spool").files() as files:
                started = await transcriber.start(upload, files, EngineOptions(), diarization=options)
                try:
                    return [event async for event in started.events()]
                finally:
                    await started.aclose()
        finally:
            stop()

    events = asyncio.run(run(DiarizationOptions(known_speakers=tuple(references))))

    segments = [e for e in events if isinstance(e, Segment)]
    assert isinstance(events[-1], SpeakerTurns)
    final = list(events[-1].turns)
    assert speakers(final) == {"Olga", "A", "B"}
    assert diarization_error_rate(truth, final) <= MAX_DER
    assert segments and all(s.speaker in {"Olga", "A", "B"} for s in segments)
    assert [s.id for s in segments] == list(range(len(segments)))
    relabelled = attribute(segments, final, first_id=0)
    assert {s.speaker for s in relabelled} == {"Olga", "A", "B"}

    short = [KnownSpeaker("Olga", write_wav(tmp_path / "short.wav", say(VOICES[1], PHRASES[3])))]
    with pytest.raises(APIError) as refused:
        asyncio.run(run(DiarizationOptions(known_speakers=tuple(short))))
    assert (refused.value.status, refused.value.param) == (400, "known_speaker_references")
    assert "Olga" in refused.value.message and "2-10 s" in refused.value.message


@pytest.mark.timeout(1200)
def test_an_hour_of_conversation_costs_the_memory_of_ten_minutes(speaker_models_dir: Path) -> None:
    command = [
        sys.executable,
        "-W",
        "ignore",
        "-m",
        "tests.fixtures.long_diarization",
        str(speaker_models_dir),
    ]
    result = subprocess.run(
        [*command, "--hours", "1", "--warmup-minutes", "10"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    measured = json.loads(result.stdout)

    assert measured["audio_hours"] >= 1.0
    assert measured["speakers"] == 4  # the same four voices, an hour later
    # What the diarizer keeps grows by a few numbers per speaker change: well under 10 MB an hour.
    assert measured["peak_rss_mb_end"] - measured["peak_rss_mb_after_warmup"] <= 10
