"""How audio is cut for one engine: the chunk policy it declares, applied to the settings. Pure.

A family whose model is best on short chunks (`whole=False`, GigaAM) has audio past `DIRECT_MAX_SECONDS`
cut by the VAD after the `VAD_*` settings; one that takes long context itself (`whole=True`, Qwen3-ASR)
gets audio up to its longest chunk whole, and the VAD cuts only longer audio, aiming at its preferred
chunk. Either way no chunk is longer than the engine's longest.
"""

from __future__ import annotations

from gigaam_api.config import Settings
from gigaam_api.engines.base import ChunkPolicy
from gigaam_api.vad.chunking import ChunkingSettings


def direct_max_seconds(settings: Settings, policy: ChunkPolicy) -> float:
    """Audio up to this long goes to the engine whole, in one pass; longer audio is cut by the VAD."""
    if policy.whole:
        return policy.longest_seconds
    return min(settings.DIRECT_MAX_SECONDS, policy.longest_seconds)


def chunking_settings(settings: Settings, policy: ChunkPolicy) -> ChunkingSettings:
    """The VAD chunker's settings for audio longer than `direct_max_seconds`.

    Raises ValueError, naming the settings, when they do not fit the engine's chunks (found at start-up).
    """
    longest = policy.longest_seconds
    if policy.whole:
        min_s, max_s, hard_max_s = policy.preferred_seconds, longest, longest
    else:
        min_s, max_s, hard_max_s = (
            min(s, longest) for s in (settings.VAD_MIN, settings.VAD_MAX, settings.VAD_HARD_MAX)
        )
    try:
        return ChunkingSettings(
            threshold=settings.VAD_THRESHOLD,
            neg_threshold=settings.VAD_NEG_THRESHOLD,
            min_speech_ms=settings.VAD_MIN_SPEECH_MS,
            min_silence_ms=settings.VAD_MIN_SILENCE_MS,
            speech_pad_ms=settings.VAD_SPEECH_PAD_MS,
            min_s=min_s,
            max_s=max_s,
            hard_max_s=hard_max_s,
            first_max_s=settings.FIRST_CHUNK_SECONDS or None,
        )
    except ValueError as exc:
        raise ValueError(
            f"the VAD_* and FIRST_CHUNK_SECONDS settings do not fit chunks of up to {longest:g} s: {exc}"
        ) from None
