"""The bench's configuration choice: what runs where, and how the limit starts each child."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest

from bench import ovep
from bench.configs import ALL, BY_LABEL, OVEP, auto_label, available, not_measured, same_files
from bench.fidelity import text_agreement
from bench.limit import child_command, compiled_cache
from gigaam_api.engines.gigaam.openvino import CACHE_DIR
from gigaam_api.engines.gigaam.runtime import MachineFacts

X86 = MachineFacts(
    architecture="x86_64",
    cpu_flags=frozenset({"avx2", "avx512f"}),
    ort_providers=("CPUExecutionProvider",),
    openvino_devices=("CPU",),
    openvino_bf16=False,
    nvidia_gpu=False,
    nncf_installed=True,
    int8_ir_ready=True,
)
ARM = dataclasses.replace(X86, architecture="arm64", cpu_flags=frozenset())


def _labels(facts: MachineFacts) -> list[str]:
    return [c.label for c in available(facts)]


def test_the_execution_provider_is_measured_on_x86_64_only() -> None:
    assert _labels(X86) == ["ort-fp32", "ort-int8", "ov-fp32", "ov-int8", "ort-ovep-fp32", "ort-ovep-int8"]
    assert _labels(ARM) == ["ort-fp32", "ort-int8", "ov-fp32", "ov-int8"]
    assert "no wheels for arm64" in not_measured("arm64")
    assert "no wheels" not in not_measured("x86_64")


def test_the_execution_provider_reads_the_ort_files_and_is_never_a_service_configuration() -> None:
    fp32, int8 = BY_LABEL["ort-ovep-fp32"], BY_LABEL["ort-ovep-int8"]
    assert fp32.provider == int8.provider == OVEP
    assert (fp32.choice().onnx_quantization, int8.choice().onnx_quantization) == (None, "int8")
    assert not fp32.service and not int8.service
    assert all(c.service for c in ALL if c.provider is None)
    assert same_files(fp32) == BY_LABEL["ort-fp32"] and same_files(int8) == BY_LABEL["ort-int8"]
    assert same_files(BY_LABEL["ov-int8"]) is None
    assert auto_label(X86) == "ov-int8" and auto_label(ARM) == "ort-int8"


def test_each_child_runs_in_the_interpreter_that_has_its_onnxruntime(tmp_path: Path) -> None:
    ep = child_command(BY_LABEL["ort-ovep-int8"], tmp_path, threads=2, batches=[], placement=True)
    assert ep[:3] == [str(ovep.VENV / "bin" / "python"), "-m", "bench.ovep"]
    model = ["--model-dir", str(tmp_path)]
    assert ep[3:] == ["--child", "ort-ovep-int8", *model, "--threads", "2", "--batches", "", "--placement"]
    ort = child_command(BY_LABEL["ort-fp32"], tmp_path, threads=4, batches=[1, 8])
    assert ort[:3] == [sys.executable, "-m", "bench.limit"] and ort[-2:] == ["--batches", "1,8"]


def test_the_provider_and_openvino_keep_their_own_compiled_caches(tmp_path: Path) -> None:
    assert compiled_cache(tmp_path, BY_LABEL["ort-ovep-fp32"]) == tmp_path / ovep.CACHE_DIR
    assert compiled_cache(tmp_path, BY_LABEL["ov-int8"]) == tmp_path / CACHE_DIR
    assert compiled_cache(tmp_path, BY_LABEL["ort-int8"]) is None


def test_provider_options_carry_the_threads_and_the_service_s_openvino_properties(tmp_path: Path) -> None:
    options = ovep.provider_options(3, tmp_path)
    assert options["device_type"] == "CPU" and options["cache_dir"] == str(tmp_path)
    assert options["load_config"] == (
        '{"CPU": {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32", '
        '"INFERENCE_NUM_THREADS": "3"}}'
    )


def _node(provider: str, op: str, micros: int) -> dict[str, object]:
    return {
        "cat": "Node",
        "name": f"{op}_kernel_time",
        "dur": micros,
        "args": {"provider": provider, "op_name": op},
    }


def test_placement_counts_nodes_and_kernel_time_per_provider() -> None:
    events = [
        _node(OVEP, "OpenVINO-EP-subgraph_1", 900),
        _node(OVEP, "OpenVINO-EP-subgraph_2", 60),
        _node("CPUExecutionProvider", "ConvInteger", 40),
        {"cat": "Session", "name": "model_run", "dur": 5000},
        {"cat": "Node", "name": "ConvInteger_fence_before", "dur": 0, "args": {}},
    ]
    assert ovep.placement(events) == {
        "CPUExecutionProvider": {"nodes": 1, "time_share": 0.04, "ops": ["ConvInteger"]},
        OVEP: {"nodes": 2, "time_share": 0.96, "ops": ["OpenVINO-EP-subgraph"]},
    }


def test_a_session_that_fell_back_to_the_cpu_provider_fails_loudly() -> None:
    on_ep = {OVEP: {"nodes": 1, "time_share": 1.0, "ops": ["OpenVINO-EP-subgraph"]}}
    ovep.check_on_provider([OVEP, "CPUExecutionProvider"], on_ep)
    with pytest.raises(SystemExit, match="did not start OpenVINOExecutionProvider"):
        ovep.check_on_provider(["CPUExecutionProvider"], {})
    only_cpu = {"CPUExecutionProvider": {"nodes": 9, "time_share": 1.0, "ops": ["MatMul"]}}
    with pytest.raises(SystemExit, match="no node ran on OpenVINOExecutionProvider"):
        ovep.check_on_provider([OVEP, "CPUExecutionProvider"], only_cpu)


def test_text_agreement_compares_the_same_chunks() -> None:
    assert text_agreement(["абв", "где"], ["абв", "где"]) == {"same_text": True, "cer": 0.0}
    assert text_agreement(["абв", "где"], ["абв", "гдж"]) == {"same_text": False, "cer": round(1 / 7, 4)}
    with pytest.raises(ValueError, match="1 texts against 2"):
        text_agreement(["а", "б"], ["а"])
