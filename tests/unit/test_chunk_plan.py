"""The chunk policy an engine declares, applied by the pipeline: how much goes in whole, how the VAD cuts."""

from __future__ import annotations

import pytest

from gigaam_api.config import ConfigError, load_settings
from gigaam_api.engines.base import ChunkPolicy
from gigaam_api.pipeline.chunk_plan import chunking_settings, direct_max_seconds

SHORT_CHUNKS = ChunkPolicy(30.0, preferred_seconds=22.0, whole=False)  # GigaAM's
LONG_CONTEXT = ChunkPolicy(1200.0, preferred_seconds=600.0, whole=True)  # Qwen3-ASR's


def test_a_short_chunk_family_is_cut_by_the_vad_after_the_settings() -> None:
    settings = load_settings(_env_file=None)
    assert direct_max_seconds(settings, SHORT_CHUNKS) == 25  # DIRECT_MAX_SECONDS
    chunking = chunking_settings(settings, SHORT_CHUNKS)
    assert (chunking.min_s, chunking.max_s, chunking.hard_max_s) == (15, 22, 30)
    assert chunking.first_max_s == 10


def test_a_long_context_family_gets_audio_whole_up_to_its_limit() -> None:
    """It used to be held to GigaAM's 25 s: Qwen3-ASR got 25-s pieces although it takes 20 minutes."""
    settings = load_settings(_env_file=None)
    assert direct_max_seconds(settings, LONG_CONTEXT) == 1200
    chunking = chunking_settings(settings, LONG_CONTEXT)  # only audio past 20 minutes is cut
    assert (chunking.min_s, chunking.max_s, chunking.hard_max_s) == (600, 1200, 1200)


def test_settings_past_30_s_are_accepted_and_capped_by_the_engine() -> None:
    settings = load_settings(_env_file=None, DIRECT_MAX_SECONDS=300, VAD_MAX=200, VAD_HARD_MAX=400)
    assert direct_max_seconds(settings, SHORT_CHUNKS) == 30
    assert chunking_settings(settings, SHORT_CHUNKS).hard_max_s == 30
    wide = ChunkPolicy(600.0, preferred_seconds=100.0, whole=False)
    assert direct_max_seconds(settings, wide) == 300
    assert (chunking_settings(settings, wide).max_s, chunking_settings(settings, wide).hard_max_s) == (
        200,
        400,
    )


def test_first_chunk_setting_reaches_the_chunker() -> None:
    assert (
        chunking_settings(load_settings(_env_file=None, FIRST_CHUNK_SECONDS=0), SHORT_CHUNKS).first_max_s
        is None
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [("FIRST_CHUNK_SECONDS", 0.1), ("VAD_HARD_MAX", 0.3), ("VAD_SPEECH_PAD_MS", 20000)],
)
def test_chunk_settings_that_cannot_cut_audio_are_refused_naming_them(name: str, value: float) -> None:
    """Each was accepted at start-up and failed every long request with a 500; the pipeline is built at
    start, so they still stop the start."""
    settings = load_settings(_env_file=None, VAD_MIN=0.2, VAD_MAX=0.2, **{name: value})
    with pytest.raises(ValueError, match="FIRST_CHUNK_SECONDS settings do not fit chunks of up to 30 s"):
        chunking_settings(settings, SHORT_CHUNKS)


def test_a_policy_prefers_no_more_than_it_takes() -> None:
    with pytest.raises(ValueError):
        ChunkPolicy(30.0, preferred_seconds=40.0, whole=False)
    with pytest.raises(ConfigError, match="VAD_MIN <= VAD_MAX"):
        load_settings(_env_file=None, VAD_MIN=25, VAD_MAX=22)
