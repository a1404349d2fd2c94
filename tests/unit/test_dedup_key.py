"""The dedup key: the same for the same audio and output-affecting options, different otherwise."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

from gigaam_api.api.upload import Upload, file_sha256
from gigaam_api.config import load_settings
from gigaam_api.dedup.key import request_key
from gigaam_api.engines.base import EngineOptions, ServerVAD
from tests.fixtures.engines import capabilities

AUDIO = "a" * 64
SETTINGS = load_settings(_env_file=None)


def test_same_audio_and_options_give_the_same_key() -> None:
    caps = capabilities()
    assert request_key(AUDIO, EngineOptions("ru"), caps, SETTINGS) == request_key(
        AUDIO, EngineOptions("ru"), caps, SETTINGS
    )


def test_everything_that_changes_the_transcript_changes_the_key() -> None:
    caps = capabilities()
    base = request_key(AUDIO, EngineOptions(), caps, SETTINGS)
    variants = [
        request_key("b" * 64, EngineOptions(), caps, SETTINGS),
        request_key(AUDIO, EngineOptions(language="ru"), caps, SETTINGS),
        request_key(AUDIO, EngineOptions(prompt="термины"), caps, SETTINGS),
        request_key(AUDIO, EngineOptions(keywords=("сбер",)), caps, SETTINGS),
        request_key(AUDIO, EngineOptions(keywords=("сбер",), keyword_boost=2.0), caps, SETTINGS),
        request_key(AUDIO, EngineOptions(server_vad=ServerVAD(silence_duration_ms=200)), caps, SETTINGS),
        request_key(AUDIO, EngineOptions(server_vad=ServerVAD(silence_duration_ms=2000)), caps, SETTINGS),
        request_key(AUDIO, EngineOptions(), capabilities(model_id="gigaam-v3-rnnt"), SETTINGS),
        request_key(AUDIO, EngineOptions(), capabilities(runtime="openvino"), SETTINGS),
        request_key(AUDIO, EngineOptions(), capabilities(precision="int8"), SETTINGS),
        request_key(AUDIO, EngineOptions(), caps, load_settings(_env_file=None, VAD_THRESHOLD=0.5)),
        request_key(AUDIO, EngineOptions(), caps, load_settings(_env_file=None, DIRECT_MAX_SECONDS=10)),
    ]
    assert len({base, *variants}) == len(variants) + 1


def test_settings_that_do_not_change_the_transcript_leave_the_key_alone() -> None:
    caps = capabilities()
    other = load_settings(_env_file=None, MAX_QUEUE=3, PORT=9000, CACHE_MAX_MB=1)
    detail = dataclasses.replace(caps, detail="chosen for another reason")
    assert request_key(AUDIO, EngineOptions(), caps, SETTINGS) == request_key(
        AUDIO, EngineOptions(), detail, other
    )


def test_file_digest_is_the_sha256_of_the_bytes(tmp_path: Path) -> None:
    path = tmp_path / "audio"
    path.write_bytes(b"abc")
    assert file_sha256(path) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_an_upload_not_hashed_on_the_way_in_gets_the_same_digest_from_its_file(tmp_path: Path) -> None:
    path = tmp_path / "audio"
    path.write_bytes(b"abc")
    streamed = Upload(path, file_size=3, sha256=file_sha256(path))
    unhashed = Upload(path, file_size=3)
    digests = [asyncio.run(u.digest()) for u in (streamed, unhashed)]
    assert digests == [file_sha256(path)] * 2


def test_diarization_options_are_part_of_the_key(tmp_path: Path) -> None:
    from gigaam_api.speakers.options import DiarizationOptions, KnownSpeaker

    caps = capabilities()
    olga = KnownSpeaker("Olga", tmp_path / "olga.wav")
    keys = [
        request_key(AUDIO, EngineOptions(), caps, SETTINGS),
        request_key(AUDIO, EngineOptions(), caps, SETTINGS, diarization=DiarizationOptions()),
        request_key(AUDIO, EngineOptions(), caps, SETTINGS, diarization=DiarizationOptions(speakers=2)),
        request_key(AUDIO, EngineOptions(), caps, SETTINGS, diarization=DiarizationOptions(max_speakers=2)),
        request_key(
            AUDIO,
            EngineOptions(),
            caps,
            SETTINGS,
            diarization=DiarizationOptions(known_speakers=(olga,)),
            reference_sha256=("c" * 64,),
        ),
        request_key(
            AUDIO,
            EngineOptions(),
            caps,
            SETTINGS,
            diarization=DiarizationOptions(known_speakers=(olga,)),
            reference_sha256=("d" * 64,),  # another clip under the same name
        ),
    ]
    assert len(set(keys)) == len(keys)
