"""The key two requests share work under: the audio's bytes and everything that changes the transcript.

Rendering options (response_format, stream, timestamp_granularities, include[]) are left out: the
engine always produces words and token log-probabilities when it can, and every format is rendered
from the same transcript. `temperature` is left out because decoding is greedy (it changes nothing).
The audio comes in as its SHA-256 (`api.upload.Upload.digest`). Pure.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json

from gigaam_api import __version__
from gigaam_api.config import Settings
from gigaam_api.dedup.codec import FORMAT_VERSION
from gigaam_api.engines.base import Capabilities, EngineOptions
from gigaam_api.speakers.options import DiarizationOptions

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


def request_key(
    audio_sha256: str,
    options: EngineOptions,
    caps: Capabilities,
    settings: Settings,
    *,
    diarization: DiarizationOptions | None = None,
    reference_sha256: tuple[str, ...] = (),
) -> str:
    """A hex digest naming the transcript this request will get; a diarized one's also names the speaker
    model, the count hints and each known speaker (name and clip, by `reference_sha256`, in order)."""
    parts: dict[str, object] = {
        "audio": audio_sha256,
        "options": dataclasses.asdict(options),  # every option the engine sees (language, prompt)
        "engine": [caps.model_id, caps.runtime, caps.precision, caps.device],
        "pipeline": {name: getattr(settings, name) for name in PIPELINE_SETTINGS},
        "version": [__version__, FORMAT_VERSION],
    }
    if diarization is not None:
        parts["diarization"] = {
            "model": settings.SPEAKER_MODEL,
            "counts": [diarization.speakers, diarization.min_speakers, diarization.max_speakers],
            "per_channel": diarization.per_channel,
            "known": [
                [known.name, digest]
                for known, digest in zip(diarization.known_speakers, reference_sha256, strict=True)
            ],
        }
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
