"""The Qwen3-ASR engine's pure parts: device choice, declared capabilities, aligner words, languages,
the hub layout and its weights check, the MODELS settings, and lazy loading."""

from __future__ import annotations

import importlib.util
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from gigaam_api.config import ConfigError, Settings, load_settings
from gigaam_api.engines.base import (
    ASREngine,
    ChunkResult,
    EngineOptions,
    RuntimeSelectionError,
    WeightsUnavailableError,
)
from gigaam_api.engines.qwen.adapter import capabilities, words_from_alignment
from gigaam_api.engines.qwen.catalog import MODELS, missing_files
from gigaam_api.engines.qwen.device import QwenDevice, choose_device, cuda_possible
from gigaam_api.engines.qwen.languages import QWEN_NAMES, detected_code
from gigaam_api.engines.qwen.weights import ensure_spec
from gigaam_api.engines.registry import resolve_settings
from gigaam_api.formats.languages import NAMES
from gigaam_api.pipeline.unloadable import UnloadableEngine
from gigaam_api.transcript import Word
from tests.fixtures.engines import capabilities as fake_capabilities

CPU = QwenDevice("cpu", "fp32", "QWEN_DEVICE=cpu")


def test_device_auto_takes_a_gpu_only_when_torch_can_use_one() -> None:
    assert choose_device("auto", cuda_available=False).device == "cpu"
    assert (
        choose_device("auto", cuda_available=True).device,
        choose_device("auto", cuda_available=True).precision,
    ) == (
        "cuda",
        "bf16",
    )
    assert choose_device("cpu", cuda_available=True).precision == "fp32"
    with pytest.raises(RuntimeSelectionError, match="QWEN_DEVICE=cuda"):
        choose_device("cuda", cuda_available=False)


def test_cuda_is_possible_with_a_driver_gpu_and_a_non_cpu_torch_build(tmp_path: Path) -> None:
    assert not cuda_possible("2.13.0", tmp_path / "absent")
    assert not cuda_possible("2.13.0", tmp_path)  # the driver directory lists no GPU
    (tmp_path / "0000:01:00.0").mkdir()
    assert cuda_possible("2.13.0", tmp_path)
    assert cuda_possible("2.13.0+cu128", tmp_path)
    assert not cuda_possible("2.13.0+cpu", tmp_path)


def test_capabilities_declare_words_only_with_an_aligner_and_never_logprobs() -> None:
    plain = capabilities(load_settings(_env_file=None, MODEL="qwen3-asr-0.6b"), CPU)
    aligned = capabilities(
        resolve_settings(
            load_settings(
                _env_file=None, MODEL="qwen3-asr-0.6b", QWEN_ALIGNER="Qwen/Qwen3-ForcedAligner-0.6B"
            )
        ),
        CPU,
    )
    assert plain.model_id == "qwen3-asr-0.6b" and plain.runtime == "transformers"
    assert {"ru", "en", "zh", "yue", "fil"} <= plain.languages and "uk" not in plain.languages
    assert (plain.word_timestamps, plain.token_logprobs, plain.chunks.longest_seconds) == (False, False, 1200)
    assert (aligned.word_timestamps, aligned.token_logprobs, aligned.chunks.longest_seconds) == (
        True,
        False,
        180,
    )
    assert plain.chunks.whole and aligned.chunks.whole  # long context: whole up to the limit
    assert "qwen3-forcedaligner-0.6b" in aligned.detail
    assert plain.unspaced_languages == {"zh", "yue", "ja", "th"}  # written without spaces between words
    assert (plain.separator("zh"), plain.separator("en")) == ("", " ")


def test_every_qwen_language_has_a_name_for_verbose_json() -> None:
    assert set(QWEN_NAMES) <= set(NAMES)
    assert all(NAMES[code] == name.lower() for code, name in QWEN_NAMES.items())


@pytest.mark.parametrize(
    ("reported", "code"),
    [("Russian", "ru"), ("english", "en"), ("Chinese,English", "zh"), ("", None), ("Klingon", None)],
)
def test_the_detected_language_becomes_its_code(reported: str, code: str | None) -> None:
    assert detected_code(reported) == code


def test_aligner_items_become_ordered_words_inside_the_chunk() -> None:
    items = [
        SimpleNamespace(text="привет", start_time=0.1, end_time=0.5),
        SimpleNamespace(text=" ", start_time=0.5, end_time=0.5),
        SimpleNamespace(text="мир", start_time=0.4, end_time=2.5),  # overlaps, and runs past the end
    ]
    assert words_from_alignment(items, 2.0) == (Word("привет", 0.1, 0.5), Word("мир", 0.5, 2.0))


def _hub_dir(root: Path, *, sharded: bool) -> Path:
    spec = MODELS["qwen3-asr-1.7b"]
    directory = root / spec.name
    directory.mkdir()
    for name in spec.files:
        (directory / name).write_text("{}")
    if sharded:
        shards = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
        index = {"weight_map": {"a": shards[0], "b": shards[1], "c": shards[1]}}
        (directory / "model.safetensors.index.json").write_text(json.dumps(index))
        (directory / shards[0]).write_bytes(b"")
    return directory


def test_the_weights_check_knows_one_file_and_sharded_layouts(tmp_path: Path) -> None:
    spec = MODELS["qwen3-asr-1.7b"]
    sharded = _hub_dir(tmp_path, sharded=True)
    assert missing_files(sharded, spec) == ["model-00002-of-00002.safetensors"]
    (sharded / "model-00002-of-00002.safetensors").write_bytes(b"")
    assert missing_files(sharded, spec) == []
    (sharded / "vocab.json").unlink()
    assert missing_files(sharded, spec) == ["vocab.json"]


def test_offline_without_the_weights_says_what_is_missing_and_how_to_fetch_it(tmp_path: Path) -> None:
    with pytest.raises(WeightsUnavailableError) as info:
        ensure_spec(tmp_path, MODELS["qwen3-asr-0.6b"], offline=True)
    message = str(info.value)
    assert "qwen3-asr-0.6b" in message and "OFFLINE=true" in message and "chat_template.json" in message
    assert "MODELS=qwen3-asr-0.6b" in message and "huggingface.co/Qwen/Qwen3-ASR-0.6B" in message


def _resolved(**overrides: object) -> Settings:
    return resolve_settings(load_settings(_env_file=None, **overrides))


def test_models_lists_what_is_served_and_model_picks_the_default() -> None:
    first = resolve_settings(
        load_settings(_env_file=None, MODELS="Qwen/Qwen3-ASR-0.6B, v3_ctc, qwen3_asr_0.6b")
    )
    assert first.MODELS == ("qwen3-asr-0.6b", "gigaam-v3-ctc")
    assert first.MODEL == "qwen3-asr-0.6b"  # MODEL unset: the first listed
    chosen = resolve_settings(
        load_settings(_env_file=None, MODELS="qwen3-asr-0.6b,gigaam-v3-ctc", MODEL="v3_ctc")
    )
    assert chosen.served_models == ("gigaam-v3-ctc", "qwen3-asr-0.6b")
    assert load_settings(_env_file=None).served_models == ("gigaam-v3-ctc",)
    with pytest.raises(ConfigError, match="MODEL"):
        _resolved(MODELS="qwen3-asr-0.6b", MODEL="gigaam-v3-rnnt")
    with pytest.raises(ConfigError, match="MODELS"):
        _resolved(MODELS="gigaam-v3-ctc,whisper-large")
    with pytest.raises(ConfigError, match="QWEN_ALIGNER"):
        _resolved(QWEN_ALIGNER="some-aligner")


def test_a_lazy_engine_loads_on_its_first_batch_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    declared = fake_capabilities(model_id="qwen3-asr-0.6b")
    loads: list[str] = []

    class Engine:
        capabilities = declared

        def transcribe_batch(self, chunks: Sequence[object], options: EngineOptions) -> list[ChunkResult]:
            return [ChunkResult("text") for _ in chunks]

    def load() -> ASREngine:
        loads.append("load")
        return Engine()

    lazy = UnloadableEngine(load, None, capabilities=declared)
    before = lazy.state
    with caplog.at_level(logging.INFO):
        first = lazy.transcribe_batch([np.zeros(1, np.float32)], EngineOptions())
        lazy.transcribe_batch([np.zeros(1, np.float32)], EngineOptions())

    assert (before, lazy.state) == ("unloaded", "loaded")
    assert first == [ChunkResult("text")] and loads == ["load"]
    assert "loaded qwen3-asr-0.6b on first use" in caplog.text
    with pytest.raises(ValueError, match="capabilities"):
        UnloadableEngine(load, None)


def test_without_the_qwen_extra_the_start_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # torch may be absent from an install (it is not in the lock): find_spec is how the check sees that.
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "torch" else real(name))
    with pytest.raises(RuntimeSelectionError) as info:
        capabilities(load_settings(_env_file=None, MODEL="qwen3-asr-0.6b"))
    assert "needs torch" in str(info.value) and "--extra qwen" in str(info.value)
    assert "download.pytorch.org/whl/cpu" in str(info.value)
