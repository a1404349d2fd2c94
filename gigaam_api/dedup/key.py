"""The key two requests share work under: the audio's bytes and everything that changes the transcript.

Rendering options (response_format, stream, timestamp_granularities, include[]) are left out: the
engine always produces words and token log-probabilities when it can, and every format is rendered
from the same transcript. `temperature` is left out because decoding is greedy (it changes nothing).
Pure, but for reading a file that was not hashed on the way in.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Protocol

from gigaam_api import __version__
from gigaam_api.config import Settings
from gigaam_api.dedup.codec import FORMAT_VERSION
from gigaam_api.engines.base import Capabilities, EngineOptions

# Server settings that decide where chunks are cut or which audio is transcribed.
PIPELINE_SETTINGS = (
    "MAX_AUDIO_SECONDS",
    "DIRECT_MAX_SECONDS",
    "BATCH_SECONDS",
    "VAD_THRESHOLD",
    "VAD_NEG_THRESHOLD",
    "VAD_MIN_SPEECH_MS",
    "VAD_MIN_SILENCE_MS",
    "VAD_SPEECH_PAD_MS",
    "VAD_MIN",
    "VAD_MAX",
    "VAD_HARD_MAX",
    "FIRST_CHUNK_SECONDS",
)


class StoredUpload(Protocol):
    """An upload in the spool (`api.upload.Upload`): its file, and its digest if hashed on the way in."""

    @property
    def path(self) -> Path: ...

    @property
    def sha256(self) -> str | None: ...


def request_key(audio_sha256: str, options: EngineOptions, caps: Capabilities, settings: Settings) -> str:
    """A hex digest naming the transcript this request will get."""
    parts = {
        "audio": audio_sha256,
        "options": dataclasses.asdict(options),  # every option the engine sees (language, prompt)
        "engine": [caps.model_id, caps.runtime, caps.precision, caps.device],
        "pipeline": {name: getattr(settings, name) for name in PIPELINE_SETTINGS},
        "version": [__version__, FORMAT_VERSION],
    }
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


async def upload_key(
    upload: StoredUpload, options: EngineOptions, caps: Capabilities, settings: Settings
) -> str:
    digest = upload.sha256
    if digest is None:
        digest = await asyncio.to_thread(file_sha256, upload.path)
    return request_key(digest, options, caps, settings)


def file_sha256(path: Path) -> str:
    """For uploads that were not hashed as they streamed in (a second read of the file)."""
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()
