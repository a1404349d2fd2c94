"""The int8-static IR's verdict and gate without building: stamps, refusals, and the fallback at load."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from gigaam_api.engines.gigaam import static_ir
from gigaam_api.engines.gigaam.loader import settle_int8_static
from gigaam_api.engines.gigaam.runtime import RuntimeChoice
from gigaam_api.engines.gigaam.static_build import frame_agreement, judge

CTC = ["v3_ctc.onnx"]
STATIC = RuntimeChoice("openvino", "cpu", "int8-static", "auto: VNNI")


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    (tmp_path / "v3_ctc.onnx").write_bytes(b"fp32")
    (tmp_path / "v3_ctc.int8.onnx").write_bytes(b"int8")
    (tmp_path / "config.json").write_text('{"version": "v3"}', encoding="utf-8")
    return tmp_path


def _save(model_dir: Path, verdict: static_ir.Verdict) -> None:
    directory = model_dir / static_ir.STATIC_DIR
    directory.mkdir()
    if verdict.accepted:
        (directory / "v3_ctc.xml").write_text("<net/>", encoding="utf-8")
        (directory / "v3_ctc.bin").write_bytes(b"weights")
    static_ir.write_verdict(directory, verdict, static_ir.source_stamp(model_dir, "v3_ctc.onnx"))


ACCEPTED = static_ir.Verdict(True, "fidelity gate passed: 98.7% vs 98.1%", 0.987, 0.981, 80.0)
REFUSED = static_ir.Verdict(
    False, "fidelity gate: below ONNX Runtime int8 (92.0% vs 96.4%)", 0.92, 0.964, 74.0
)


def test_frame_agreement_counts_frames_whose_best_token_matches() -> None:
    reference = [np.array([[[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]]])]
    other = [np.array([[[0.8, 0.2], [0.7, 0.3], [0.6, 0.4], [0.1, 0.9]]])]
    assert frame_agreement(reference, other) == 0.75


@pytest.mark.parametrize(
    ("agreement", "reference", "accepted"), [(0.98, 0.97, True), (0.97, 0.97, True), (0.92, 0.964, False)]
)
def test_the_gate_keeps_what_agrees_with_fp32_at_least_as_well_as_onnxruntime_int8(
    agreement: float, reference: float, accepted: bool
) -> None:
    kept, reason = judge(agreement, reference)
    assert kept is accepted
    assert f"{agreement:.2%}" in reason and f"{reference:.2%}" in reason


def test_no_verdict_before_a_build(model_dir: Path) -> None:
    assert static_ir.read_verdict(model_dir, CTC) is None


@pytest.mark.parametrize("verdict", [ACCEPTED, REFUSED])
def test_a_verdict_on_the_files_on_disk_is_read_back(model_dir: Path, verdict: static_ir.Verdict) -> None:
    _save(model_dir, verdict)
    assert static_ir.read_verdict(model_dir, CTC) == verdict


@pytest.mark.parametrize("changed", ["v3_ctc.onnx", "v3_ctc.int8.onnx"])
def test_new_weights_or_a_new_reference_void_the_verdict(model_dir: Path, changed: str) -> None:
    _save(model_dir, REFUSED)
    (model_dir / changed).write_bytes(b"new weights")
    assert static_ir.read_verdict(model_dir, CTC) is None


def test_an_accepted_verdict_without_its_weights_is_void(model_dir: Path) -> None:
    _save(model_dir, ACCEPTED)
    (model_dir / static_ir.STATIC_DIR / "v3_ctc.bin").unlink()
    assert static_ir.read_verdict(model_dir, CTC) is None


def test_an_older_format_is_void(model_dir: Path) -> None:
    _save(model_dir, ACCEPTED)
    path = model_dir / static_ir.STATIC_DIR / static_ir.VERDICT_FILE
    saved = json.loads(path.read_text(encoding="utf-8"))
    saved["stamp"]["format"] = static_ir.FORMAT - 1
    path.write_text(json.dumps(saved), encoding="utf-8")
    assert static_ir.read_verdict(model_dir, CTC) is None


def test_rnnt_models_are_refused_without_a_build(model_dir: Path) -> None:
    verdict = static_ir.read_verdict(model_dir, ["e.onnx", "d.onnx", "j.onnx"])
    assert verdict is not None and not verdict.accepted and "CTC" in verdict.reason


def test_without_the_onnxruntime_int8_file_there_is_nothing_to_compare_with(model_dir: Path) -> None:
    (model_dir / "v3_ctc.int8.onnx").unlink()
    verdict = static_ir.ensure_static_ir(model_dir, CTC, "v3", 1)
    assert not verdict.accepted and "v3_ctc.int8.onnx" in verdict.reason
    assert not (model_dir / static_ir.STATIC_DIR).exists()  # nothing built


def test_an_accepted_ir_is_loaded_and_health_gets_the_gate_figures(model_dir: Path) -> None:
    _save(model_dir, ACCEPTED)
    choice = settle_int8_static(model_dir, "gigaam-v3-ctc", STATIC, 1)
    assert choice.precision == "int8-static"
    assert choice.reason == f"auto: VNNI; {ACCEPTED.reason}"


def test_a_refused_ir_falls_back_to_weight_only_int8_with_one_log_line(
    model_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _save(model_dir, REFUSED)
    with caplog.at_level(logging.INFO):
        choice = settle_int8_static(model_dir, "gigaam-v3-ctc", STATIC, 1)
    assert (choice.runtime, choice.precision, choice.int8_ir) == ("openvino", "int8", True)
    assert REFUSED.reason in choice.reason
    lines = [r for r in caplog.records if "int8-static" in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelno == logging.WARNING
    assert REFUSED.reason in lines[0].getMessage()


def test_other_precisions_are_left_alone(tmp_path: Path) -> None:
    choice = RuntimeChoice("openvino", "cpu", "int8", "auto")
    assert settle_int8_static(tmp_path, "gigaam-v3-ctc", choice, 1) is choice
