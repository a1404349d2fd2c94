"""The console entry point with runtime settings: refusals before the port is bound, and
`gigaam-api download` building the int8 IR ahead of time."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gigaam_api.engines.gigaam import ir, static_ir
from tests.fixtures.speaker_model import build as build_speaker_model
from tests.fixtures.tiny_model import write_tiny_model

RUNTIME_VARS = (
    *("GIGAAM_RUNTIME", "GIGAAM_DEVICE", "GIGAAM_PRECISION"),
    *("RUNTIME", "DEVICE", "PRECISION", "QUANTIZATION", "MODEL", "MODELS_DIR", "PORT", "API_KEY"),
)


def _cli(command: str, **settings: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in RUNTIME_VARS}
    env.update(LOG_LEVEL="INFO", NUM_THREADS="1", OFFLINE="true", PORT="1", **settings)
    return subprocess.run(
        [sys.executable, "-m", "gigaam_api", command],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    write_tiny_model(root / "gigaam-v3-ctc", "gigaam-v3-ctc", int8=True)
    build_speaker_model(root)  # `download` fetches the speaker model too
    return root


def _refused(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("gigaam-api: ")]
    assert len(lines) == 1  # one clear message
    return lines[0]


def test_cuda_without_a_gpu_stops_the_start_with_one_message(models: Path) -> None:
    # PORT=1 cannot be bound here: a start that got as far as binding would fail differently.
    message = _refused(_cli("serve", MODELS_DIR=str(models), GIGAAM_DEVICE="cuda"))
    assert "DEVICE=cuda" in message and "DEVICE=auto/cpu" in message


def test_a_precision_the_device_cannot_run_stops_the_start(models: Path) -> None:
    message = _refused(_cli("serve", MODELS_DIR=str(models), GIGAAM_DEVICE="cpu", GIGAAM_PRECISION="fp16"))
    assert "PRECISION=fp16" in message


def test_download_builds_the_int8_ir_for_openvino(models: Path) -> None:
    model_dir = models / "gigaam-v3-ctc"
    result = _cli("download", MODELS_DIR=str(models), GIGAAM_RUNTIME="openvino", GIGAAM_PRECISION="int8")

    assert result.returncode == 0, result.stderr
    assert "int8 OpenVINO IR built" in result.stderr  # the log
    assert ir.ir_ready(model_dir, ["v3_ctc.onnx"])

    # The older global names still work, each with one deprecation warning at start.
    again = _cli("download", MODELS_DIR=str(models), RUNTIME="openvino", PRECISION="int8")
    assert again.returncode == 0 and "int8 OpenVINO IR reused" in again.stderr
    assert again.stderr.count("RUNTIME is deprecated: set GIGAAM_RUNTIME instead") == 1
    assert again.stderr.count("PRECISION is deprecated: set GIGAAM_PRECISION instead") == 1


def test_download_fetches_the_speaker_model_and_says_how_when_it_cannot(tmp_path: Path) -> None:
    write_tiny_model(tmp_path / "gigaam-v3-ctc", "gigaam-v3-ctc")
    # The hub at an address nothing listens on: the fetch fails at once, as without internet.
    result = _cli(
        "download", MODELS_DIR=str(tmp_path), HF_ENDPOINT="http://127.0.0.1:9", HF_HUB_ETAG_TIMEOUT="2"
    )

    message = _refused(result)
    assert "Speaker model weights for wespeaker-voxceleb-campplus are not available" in message
    assert "voxceleb_CAM++.onnx" in result.stderr and "SPEAKER_MODEL=" in result.stderr


def test_download_builds_the_int8_static_ir_ahead(tmp_path: Path) -> None:
    write_tiny_model(tmp_path / "gigaam-v3-ctc", "gigaam-v3-ctc", int8=True)
    build_speaker_model(tmp_path)  # `download` fetches the speaker model too
    result = _cli(
        "download", MODELS_DIR=str(tmp_path), GIGAAM_RUNTIME="openvino", GIGAAM_PRECISION="int8-static"
    )

    assert result.returncode == 0, result.stderr
    verdict = static_ir.read_verdict(tmp_path / "gigaam-v3-ctc", ["v3_ctc.onnx"])
    assert verdict is not None and verdict.accepted
    assert "OpenVINO runs int8-static here" in result.stderr
