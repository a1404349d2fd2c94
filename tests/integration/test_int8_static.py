"""The int8-static IR built for real (NNCF in a child process) on the tiny CTC model, then served."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import openvino
import pytest

from gigaam_api.config import Settings
from gigaam_api.engines.gigaam import static_ir
from gigaam_api.engines.gigaam.adapter import create
from gigaam_api.engines.gigaam.loader import load_recognizer
from gigaam_api.engines.gigaam.runtime import RuntimeChoice
from tests.fixtures.speech import synthesize
from tests.fixtures.tiny_model import write_tiny_model

MODEL = "gigaam-v3-ctc"
STATIC = RuntimeChoice("openvino", "cpu", "int8-static", "test")
# Builds through the service's entry point in a fresh interpreter and says whether NNCF got into it.
_BUILD = """
import sys
from pathlib import Path
from gigaam_api.engines.gigaam.static_ir import ensure_static_ir
verdict = ensure_static_ir(Path(sys.argv[1]), ["v3_ctc.onnx"], "v3", 1)
print(verdict.accepted, "nncf" in sys.modules)
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    model_dir = write_tiny_model(tmp_path_factory.mktemp("models") / MODEL, MODEL, int8=True)
    done = subprocess.run(
        [sys.executable, "-c", _BUILD, str(model_dir)], capture_output=True, text=True, check=True
    )
    return model_dir, done.stdout.strip()


def test_the_build_runs_in_a_child_and_leaves_the_service_process_without_nncf(
    built: tuple[Path, str],
) -> None:
    assert built[1] == "True False"


def test_the_verdict_records_both_agreements_and_the_build_time(built: tuple[Path, str]) -> None:
    model_dir, _ = built
    verdict = static_ir.read_verdict(model_dir, ["v3_ctc.onnx"])
    assert verdict is not None and verdict.accepted
    assert verdict.agreement is not None and verdict.reference is not None
    assert 0 < verdict.reference <= verdict.agreement <= 1
    assert verdict.build_seconds is not None and verdict.build_seconds > 0
    assert not list(model_dir.glob(f"{static_ir.TEMP_PREFIX}*"))  # the temporary directory was renamed


def test_matrix_products_read_int8_activations_and_the_subsampling_reads_f32(built: tuple[Path, str]) -> None:
    model = openvino.Core().read_model(static_ir.static_ir_path(built[0], "v3_ctc.onnx"))
    reads: dict[str, set[bool]] = {"MatMul": set(), "Convolution": set()}
    for op in model.get_ordered_ops():
        if op.get_type_name() in reads:
            reads[op.get_type_name()].add(op.input_value(0).get_node().get_type_name() == "FakeQuantize")
    assert reads == {"MatMul": {True}, "Convolution": {False}}


def test_the_static_ir_transcribes(built: tuple[Path, str]) -> None:
    asr = load_recognizer(built[0], MODEL, STATIC, num_threads=1)
    speech, silence = asr.recognize(
        [synthesize("Завтра будет солнечно и тепло."), np.zeros(16_000, np.float32)]
    )
    assert speech.text and speech.tokens and silence.text == ""


def test_a_second_start_reuses_the_verdict_without_building(built: tuple[Path, str]) -> None:
    model_dir, _ = built
    before = (model_dir / static_ir.STATIC_DIR / static_ir.VERDICT_FILE).stat().st_mtime_ns
    assert static_ir.ensure_static_ir(model_dir, ["v3_ctc.onnx"], "v3", 1).accepted
    assert (model_dir / static_ir.STATIC_DIR / static_ir.VERDICT_FILE).stat().st_mtime_ns == before


def test_the_engine_reports_int8_static_and_the_gate_figures_for_health(built: tuple[Path, str]) -> None:
    model_dir, _ = built
    settings = Settings(
        MODEL=MODEL,
        MODELS_DIR=model_dir.parent,
        GIGAAM_RUNTIME="openvino",
        GIGAAM_PRECISION="int8-static",
        NUM_THREADS=1,
    )
    capabilities = create(settings, model_dir).capabilities
    assert (capabilities.runtime, capabilities.precision) == ("openvino", "int8-static")
    assert "fidelity gate passed" in capabilities.detail and "ONNX Runtime int8's" in capabilities.detail
