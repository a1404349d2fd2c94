"""The engine registry: built-in families, installed ones (entry points), settings resolved at start."""

from __future__ import annotations

from pathlib import Path

import pytest

from gigaam_api.config import ConfigError, load_settings
from gigaam_api.engines import registry
from gigaam_api.engines.registry import canonical_model_name, families, resolve_settings
from tests.fixtures.echo_engine import echo_family_installed, installed_family


def test_a_family_from_an_installed_distribution_is_served_like_a_built_in(tmp_path: Path) -> None:
    with echo_family_installed(tmp_path):
        assert [f.name for f in families()] == ["gigaam", "qwen", "echo"]
        settings = resolve_settings(load_settings(_env_file=None, MODEL="ECHO", MODELS_DIR=tmp_path))
        assert settings.MODEL == "echo-1"
        caps = registry.declared_capabilities(settings)
        assert caps.model_id == "echo-1" and caps.runtime == "numpy"
        assert registry.create_engine(settings).capabilities == caps
    assert [f.name for f in families()] == ["gigaam", "qwen"]  # uninstalled: gone
    with pytest.raises(ValueError, match="unknown model 'echo-1'"):
        canonical_model_name("echo-1")


def test_an_entry_point_that_clashes_or_is_no_family_is_refused(tmp_path: Path) -> None:
    with installed_family(tmp_path / "a", "other", "os:sep"), pytest.raises(TypeError, match="not an engine"):
        families()
    with (
        installed_family(tmp_path / "b", "twin", f"{__name__}:TWIN"),
        pytest.raises(ValueError, match="clashes"),
    ):
        families()


TWIN = registry.BUILT_IN[0]  # GigaAM's family declared a second time


def test_settings_resolve_model_names_and_each_family_checks_its_own() -> None:
    settings = resolve_settings(load_settings(_env_file=None, MODELS="v3_rnnt,Qwen/Qwen3-ASR-0.6B"))
    assert (settings.MODEL, settings.MODELS) == ("gigaam-v3-rnnt", ("gigaam-v3-rnnt", "qwen3-asr-0.6b"))
    assert resolve_settings(settings) == settings  # resolving twice changes nothing
    with pytest.raises(ConfigError) as info:
        resolve_settings(load_settings(_env_file=None, MODEL="whisper-large", QWEN_ALIGNER="nope"))
    assert "MODEL: unknown model 'whisper-large'" in str(info.value)
    assert "QWEN_ALIGNER: unknown forced aligner 'nope'" in str(info.value)
