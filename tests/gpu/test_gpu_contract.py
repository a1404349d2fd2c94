"""The engine contract on every GPU this machine has: `make test-gpu`, never part of `make test`.

Where neither a usable NVIDIA GPU (ONNX Runtime's CUDA provider) nor an Intel GPU (OpenVINO's GPU
device) is present, every test fails and says what is missing: a GPU run must not pass by testing
nothing. On each GPU found, every model gives the CPU reference's text and sound words. Qwen3-ASR runs
on CUDA only (torch's CUDA build and an NVIDIA GPU): without them its test fails and says so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gigaam_api.audio.rate import SAMPLE_RATE
from gigaam_api.config import load_settings
from gigaam_api.engines.base import ASREngine, EngineOptions
from gigaam_api.engines.gigaam.runtime import CUDA_PROVIDER, probe
from gigaam_api.engines.registry import create_engine
from tests.fixtures.speech import PHRASES, synthesize
from tests.fixtures.tiny_model import MODEL_FILES, write_tiny_model

FACTS = probe(int8_ir_ready=False)
DEVICES = [
    *(["cuda"] if CUDA_PROVIDER in FACTS.ort_providers and FACTS.nvidia_gpu else []),
    *(["gpu"] if FACTS.intel_gpu else []),
]
OPTIONS = EngineOptions(language="ru")

Audio = np.ndarray[Any, np.dtype[np.float32]]


def _devices() -> list[str]:
    if not DEVICES:
        pytest.fail(
            "no GPU to test: ONNX Runtime providers "
            f'{list(FACTS.ort_providers)} (CUDA needs the `cuda` extra: make test-gpu EXTRAS="cuda convert", '
            f"and an NVIDIA driver; GPU found: {FACTS.nvidia_gpu}); OpenVINO devices "
            f"{list(FACTS.openvino_devices)} (an Intel GPU needs its OpenCL driver)."
        )
    return DEVICES


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("gpu-models")
    for model in MODEL_FILES:
        write_tiny_model(root / model, model)
    return root


@pytest.fixture(scope="module")
def speech() -> list[Audio]:
    return [synthesize(text) for text in PHRASES.values()] + [np.zeros(SAMPLE_RATE, np.float32)]


def _engine(models: Path, model: str, **settings: str) -> ASREngine:
    return create_engine(
        load_settings(_env_file=None, MODEL=model, MODELS_DIR=models, OFFLINE=True, NUM_THREADS=1, **settings)
    )


@pytest.mark.parametrize("model", list(MODEL_FILES))
def test_every_gpu_gives_the_cpu_reference_text(models: Path, speech: list[Audio], model: str) -> None:
    devices = _devices()
    want = _engine(
        models, model, GIGAAM_RUNTIME="onnxruntime", GIGAAM_DEVICE="cpu", GIGAAM_PRECISION="fp32"
    ).transcribe_batch(speech, OPTIONS)
    for device in devices:
        engine = _engine(models, model, GIGAAM_DEVICE=device, GIGAAM_PRECISION="fp32")
        assert engine.capabilities.device == device
        got = engine.transcribe_batch(speech, OPTIONS)

        assert [r.text for r in got] == [r.text for r in want], device
        assert got[0].text and got[-1].text == ""
        for audio, result in zip(speech, got, strict=True):
            assert result.words is not None
            starts = [w.start for w in result.words]
            assert starts == sorted(starts)
            assert all(0 <= w.start <= w.end <= len(audio) / SAMPLE_RATE + 1e-6 for w in result.words)


def test_qwen_runs_on_cuda(qwen_models_dir: Path, speech: list[Audio]) -> None:
    import torch

    if not torch.cuda.is_available():
        pytest.fail(
            f"torch {torch.__version__} sees no CUDA GPU: Qwen3-ASR's GPU path needs an NVIDIA driver and "
            'torch\'s CUDA build (make test-gpu TORCH_SOURCE="--index-url https://download.pytorch.org/whl/cu128").'
        )
    settings = load_settings(
        _env_file=None, MODEL="qwen3-asr-0.6b", MODELS_DIR=qwen_models_dir, OFFLINE=True, QWEN_DEVICE="cuda"
    )
    engine = create_engine(settings)
    assert (engine.capabilities.device, engine.capabilities.precision) == ("cuda", "bf16")

    results = engine.transcribe_batch(speech[:2], OPTIONS)

    assert [r.language for r in results] == ["ru", "ru"]
    assert all(r.text for r in results)
