"""Runtime, device and precision selection on made-up machines: every default, fallback and refusal."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import get_args

import pytest

from gigaam_api.engine_settings.gigaam import DeviceSetting, PrecisionSetting, RuntimeSetting
from gigaam_api.engines.base import RuntimeSelectionError
from gigaam_api.engines.gigaam.runtime import (
    MachineFacts,
    RuntimeChoice,
    choose,
    int8_static_buildable,
    normalise_architecture,
    openvino_matters,
    probe,
    read_cpu_flags,
)

ORT_CPU = ("AzureExecutionProvider", "CPUExecutionProvider")
ORT_CUDA = ("CUDAExecutionProvider", "CPUExecutionProvider")

# An EPYC/Xeon with AVX-512 and bf16, NNCF installed: the machine the default was measured on.
AVX512 = MachineFacts(
    architecture="x86_64",
    cpu_flags=frozenset({"avx2", "avx512f", "avx512_vnni", "avx512_bf16"}),
    ort_providers=ORT_CPU,
    openvino_devices=("CPU",),
    openvino_bf16=True,
    nvidia_gpu=False,
    nncf_installed=True,
    int8_ir_ready=False,
)
# AVX-512 without VNNI (Skylake-SP): no int8 dot products, so no int8 arithmetic.
SKYLAKE = replace(AVX512, cpu_flags=frozenset({"avx2", "avx512f"}), openvino_bf16=False)
AVX2 = replace(AVX512, cpu_flags=frozenset({"avx2", "fma"}), openvino_bf16=False)
# AVX-VNNI on 256-bit registers only (Alder Lake, N100): keeps the AVX2 fallback.
N100 = replace(AVX2, cpu_flags=frozenset({"avx2", "fma", "avx_vnni"}))
ARM = replace(AVX2, architecture="arm64", cpu_flags=frozenset({"asimd", "fphp"}))
NVIDIA = replace(AVX512, ort_providers=ORT_CUDA, nvidia_gpu=True)
INTEL_GPU = replace(AVX2, openvino_devices=("CPU", "GPU.0", "GPU.1"))


def _pick(
    facts: MachineFacts,
    runtime: RuntimeSetting = "auto",
    device: DeviceSetting = "auto",
    precision: PrecisionSetting = "auto",
) -> tuple[str, str, str]:
    choice = choose(runtime, device, precision, facts)
    assert choice.reason
    return choice.runtime, choice.device, choice.precision


# --- auto ----------------------------------------------------------------------------------------------


def test_auto_on_avx512_vnni_is_int8_arithmetic_on_openvino_once_built() -> None:
    choice = choose("auto", "auto", "auto", replace(AVX512, int8_static="accepted"))
    assert (choice.runtime, choice.device, choice.precision) == ("openvino", "cpu", "int8-static")
    assert choice.inference_precision == "f32" and not choice.int8_ir and choice.onnx_quantization is None
    assert "VNNI" in choice.reason and "ONNX Runtime int8's fidelity" in choice.reason


def test_auto_does_not_wait_for_the_int8_static_build_and_says_how_to_get_it() -> None:
    """Before a build (minutes, several GB) auto serves at once on the weight-only IR."""
    choice = choose("auto", "auto", "auto", AVX512)
    assert (choice.runtime, choice.device, choice.precision) == ("openvino", "cpu", "int8")
    assert "gigaam-api download" in choice.reason and "int8-static" in choice.reason


@pytest.mark.parametrize(
    ("facts", "buildable"),
    [
        (AVX512, True),
        (replace(AVX512, int8_static="accepted"), False),  # built already
        (replace(AVX512, int8_static="refused"), False),  # its gate said no
        (replace(AVX512, nncf_installed=False), False),  # nothing to build it with
        (SKYLAKE, False),
        (N100, False),
        (ARM, False),
    ],
)
def test_int8_static_is_built_only_where_auto_would_run_it(facts: MachineFacts, buildable: bool) -> None:
    assert int8_static_buildable(facts) is buildable
    if buildable:  # what `gigaam-api download` plans for: the choice once built and accepted
        assert _pick(replace(facts, int8_static="accepted")) == ("openvino", "cpu", "int8-static")
    else:
        assert "int8-static" not in choose("auto", "auto", "auto", facts).reason


def test_auto_uses_an_accepted_static_ir_without_nncf() -> None:
    facts = replace(AVX512, nncf_installed=False, int8_static="accepted")
    assert _pick(facts) == ("openvino", "cpu", "int8-static")


def test_auto_runs_the_weight_only_ir_where_the_fidelity_gate_refused_int8_arithmetic() -> None:
    assert _pick(replace(AVX512, int8_static="refused")) == ("openvino", "cpu", "int8")


@pytest.mark.parametrize(
    ("facts", "expected"), [(N100, "onnxruntime"), (AVX2, "onnxruntime"), (ARM, "onnxruntime")]
)
def test_auto_keeps_int8_arithmetic_off_cpus_without_avx512_vnni(facts: MachineFacts, expected: str) -> None:
    assert _pick(replace(facts, int8_static="accepted")) == (expected, "cpu", "int8")


def test_auto_on_avx512_without_vnni_is_openvino_int8_with_f32_inference() -> None:
    choice = choose("auto", "auto", "auto", SKYLAKE)
    assert (choice.runtime, choice.device, choice.precision) == ("openvino", "cpu", "int8")
    assert choice.inference_precision == "f32" and choice.int8_ir and choice.onnx_quantization is None
    assert "AVX-512" in choice.reason


def test_auto_never_picks_bf16_even_where_the_cpu_has_it() -> None:
    assert _pick(replace(AVX512, int8_static="accepted"))[2] == "int8-static"
    assert _pick(AVX512)[2] == "int8"
    assert AVX512.openvino_bf16


def test_auto_uses_an_ir_on_disk_without_nncf() -> None:
    facts = replace(AVX512, nncf_installed=False, int8_ir_ready=True)
    assert _pick(facts) == ("openvino", "cpu", "int8")  # no static IR to use, none to build


def test_auto_without_nncf_or_ir_falls_back_to_onnxruntime_and_says_why() -> None:
    choice = choose("auto", "auto", "auto", replace(AVX512, nncf_installed=False))
    assert (choice.runtime, choice.precision) == ("onnxruntime", "int8")
    assert "NNCF" in choice.reason


@pytest.mark.parametrize(("facts", "why"), [(AVX2, "AVX-512"), (ARM, "arm64")])
def test_auto_without_avx512_is_onnxruntime_int8(facts: MachineFacts, why: str) -> None:
    choice = choose("auto", "auto", "auto", facts)
    assert (choice.runtime, choice.device, choice.precision) == ("onnxruntime", "cpu", "int8")
    assert choice.onnx_quantization == "int8" and not choice.int8_ir
    assert why in choice.reason


def test_auto_without_openvino_cpu_is_onnxruntime() -> None:
    assert _pick(replace(AVX512, openvino_devices=())) == ("onnxruntime", "cpu", "int8")


def test_auto_prefers_a_usable_nvidia_gpu() -> None:
    choice = choose("auto", "auto", "auto", NVIDIA)
    assert (choice.runtime, choice.device, choice.precision) == ("onnxruntime", "cuda", "fp32")
    assert "NVIDIA" in choice.reason


def test_auto_ignores_the_cuda_provider_without_a_gpu() -> None:
    # onnxruntime-gpu lists CUDAExecutionProvider whether or not a GPU is present
    assert _pick(replace(NVIDIA, nvidia_gpu=False))[1] == "cpu"


@pytest.mark.parametrize("precision", ["int8", "bf16"])
def test_auto_device_stays_on_the_cpu_for_cpu_only_precisions(precision: PrecisionSetting) -> None:
    assert _pick(NVIDIA, precision=precision)[1] == "cpu"


def test_auto_does_not_pick_an_intel_gpu_it_was_never_measured_on() -> None:
    assert _pick(INTEL_GPU)[1] == "cpu"


# --- explicit precision with auto runtime ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("facts", "precision", "expected"),
    [
        (AVX512, "fp32", ("openvino", "cpu", "fp32")),
        (AVX512, "int8", ("openvino", "cpu", "int8")),
        (AVX512, "int8-static", ("openvino", "cpu", "int8-static")),
        (SKYLAKE, "int8-static", ("openvino", "cpu", "int8-static")),
        (AVX512, "bf16", ("openvino", "cpu", "bf16")),
        (AVX512, "int8-bf16", ("openvino", "cpu", "int8-bf16")),
        (AVX2, "fp32", ("onnxruntime", "cpu", "fp32")),
        (AVX2, "int8", ("onnxruntime", "cpu", "int8")),
        (ARM, "int8", ("onnxruntime", "cpu", "int8")),
        (replace(AVX512, nncf_installed=False), "int8", ("onnxruntime", "cpu", "int8")),
    ],
)
def test_explicit_precision(
    facts: MachineFacts, precision: PrecisionSetting, expected: tuple[str, ...]
) -> None:
    assert _pick(facts, precision=precision) == expected


def test_onnxruntime_int8_reads_the_hub_int8_files() -> None:
    choice = choose("onnxruntime", "cpu", "int8", AVX512)
    assert choice.onnx_quantization == "int8" and not choice.int8_ir


@pytest.mark.parametrize(
    ("precision", "hint"), [("fp32", "f32"), ("int8", "f32"), ("bf16", "bf16"), ("int8-bf16", "bf16")]
)
def test_openvino_inference_precision_hint(precision: PrecisionSetting, hint: str) -> None:
    choice = choose("openvino", "cpu", precision, AVX512)
    assert choice.inference_precision == hint
    assert choice.int8_ir == precision.startswith("int8")


# --- explicit runtime -----------------------------------------------------------------------------------


def test_onnxruntime_defaults_to_int8_on_the_cpu() -> None:
    assert _pick(AVX512, runtime="onnxruntime") == ("onnxruntime", "cpu", "int8")
    assert _pick(NVIDIA, runtime="onnxruntime") == ("onnxruntime", "cuda", "fp32")


def test_openvino_defaults_to_int8_even_where_auto_would_not_pick_it() -> None:
    assert _pick(ARM, runtime="openvino") == ("openvino", "cpu", "int8")


def test_openvino_without_nncf_or_ir_runs_fp32_and_says_why() -> None:
    choice = choose("openvino", "auto", "auto", replace(AVX2, nncf_installed=False))
    assert (choice.runtime, choice.precision) == ("openvino", "fp32")
    assert "NNCF" in choice.reason


# --- refusals: one clear message each -------------------------------------------------------------------


def _refusal(
    facts: MachineFacts, runtime: RuntimeSetting, device: DeviceSetting, precision: PrecisionSetting
) -> str:
    with pytest.raises(RuntimeSelectionError) as info:
        choose(runtime, device, precision, facts)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_cuda_without_the_cuda_build_of_onnxruntime() -> None:
    message = _refusal(AVX512, "auto", "cuda", "auto")
    assert "CUDAExecutionProvider" in message and "cuda" in message


def test_cuda_provider_without_a_gpu() -> None:
    message = _refusal(replace(NVIDIA, nvidia_gpu=False), "auto", "cuda", "auto")
    assert "no usable NVIDIA GPU" in message


def test_cuda_on_openvino() -> None:
    assert "DEVICE=gpu" in _refusal(NVIDIA, "openvino", "cuda", "auto")


def test_cuda_int8() -> None:
    assert "PRECISION=int8" in _refusal(NVIDIA, "auto", "cuda", "int8")


def test_cuda_explicit_on_a_cuda_machine() -> None:
    assert _pick(NVIDIA, device="cuda") == ("onnxruntime", "cuda", "fp32")
    assert _pick(NVIDIA, runtime="onnxruntime", device="cuda", precision="fp32") == (
        "onnxruntime",
        "cuda",
        "fp32",
    )


def test_intel_gpu_explicit() -> None:
    assert _pick(INTEL_GPU, device="gpu") == ("openvino", "gpu", "fp16")
    assert _pick(INTEL_GPU, device="gpu", precision="int8") == ("openvino", "gpu", "int8")
    assert choose("auto", "gpu", "auto", INTEL_GPU).inference_precision == "f16"


def test_intel_gpu_missing() -> None:
    message = _refusal(AVX512, "auto", "gpu", "auto")
    assert "no Intel GPU" in message and "CPU" in message


def test_intel_gpu_on_onnxruntime() -> None:
    assert "RUNTIME=openvino" in _refusal(INTEL_GPU, "onnxruntime", "gpu", "auto")


def test_bf16_on_a_cpu_without_it() -> None:
    assert "bf16 instructions" in _refusal(AVX2, "auto", "auto", "bf16")
    assert "bf16 instructions" in _refusal(AVX2, "openvino", "cpu", "int8-bf16")


def test_bf16_on_onnxruntime() -> None:
    assert "onnxruntime" in _refusal(AVX512, "onnxruntime", "auto", "bf16")


def test_fp16_is_for_the_gpu() -> None:
    assert "fp16" in _refusal(AVX512, "auto", "cpu", "fp16")
    assert "fp16" in _refusal(AVX512, "openvino", "cpu", "fp16")


def test_int8_on_openvino_needs_nncf_or_an_ir() -> None:
    message = _refusal(replace(AVX512, nncf_installed=False), "openvino", "cpu", "int8")
    assert "convert" in message and "gigaam-api download" in message


def test_int8_static_needs_nncf_or_an_accepted_ir() -> None:
    message = _refusal(
        replace(AVX512, nncf_installed=False, int8_ir_ready=True), "auto", "cpu", "int8-static"
    )
    assert "int8-static" in message and "convert" in message


def test_openvino_without_a_cpu_device() -> None:
    assert "CPU device" in _refusal(replace(AVX512, openvino_devices=()), "openvino", "cpu", "fp32")


def test_onnxruntime_not_installed() -> None:
    assert "`cpu` extra" in _refusal(replace(AVX2, ort_providers=()), "auto", "auto", "auto")


# --- every combination: a choice the runtime supports, or a one-line refusal -----------------------------

MACHINES = [
    AVX512,
    SKYLAKE,
    AVX2,
    N100,
    ARM,
    NVIDIA,
    INTEL_GPU,
    replace(AVX512, nncf_installed=False),
    replace(AVX512, nncf_installed=False, int8_static="accepted"),
    replace(AVX512, int8_static="refused"),
]
SUPPORTED = {
    ("onnxruntime", "cpu"): {"fp32", "int8"},
    ("onnxruntime", "cuda"): {"fp32"},
    ("openvino", "cpu"): {"fp32", "int8", "int8-static", "bf16", "int8-bf16"},
    ("openvino", "gpu"): {"fp32", "int8", "fp16"},
}


@pytest.mark.parametrize("facts", MACHINES)
def test_every_setting_combination_is_a_supported_choice_or_a_clear_error(facts: MachineFacts) -> None:
    refusals: list[str] = []
    for runtime in get_args(RuntimeSetting):
        for device in get_args(DeviceSetting):
            for precision in get_args(PrecisionSetting):
                try:
                    choice = choose(runtime, device, precision, facts)
                except RuntimeSelectionError as exc:
                    refusals.append(str(exc))
                    continue
                assert choice.precision in SUPPORTED[(choice.runtime, choice.device)]
                assert runtime in ("auto", choice.runtime)
                assert device in ("auto", choice.device)
                assert precision in ("auto", choice.precision)
                if choice.int8_ir:
                    assert facts.int8_ir_possible
                if choice.precision == "int8-static":
                    assert facts.int8_static == "accepted" or facts.nncf_installed
    assert all(message and "\n" not in message for message in refusals)


def test_describe() -> None:
    choice = RuntimeChoice("openvino", "cpu", "int8", "auto: because")
    assert choice.describe() == "openvino on cpu, int8 (auto: because)"


# --- the facts ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "normal"), [("x86_64", "x86_64"), ("AMD64", "x86_64"), ("aarch64", "arm64")])
def test_architecture_names(raw: str, normal: str) -> None:
    assert normalise_architecture(raw) == normal


def test_cpu_flags_from_cpuinfo(tmp_path: Path) -> None:
    x86 = tmp_path / "x86"
    x86.write_text(
        "processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16\n\nprocessor\t: 1\nflags\t: fpu\n"
    )
    arm = tmp_path / "arm"
    arm.write_text("processor\t: 0\nFeatures\t: fp asimd bf16\n")
    assert read_cpu_flags(x86) == {"fpu", "avx2", "avx512f", "avx512_bf16"}
    assert read_cpu_flags(arm) == {"fp", "asimd", "bf16"}
    assert read_cpu_flags(tmp_path / "missing") == frozenset()


def test_probe_reports_this_machine(tmp_path: Path) -> None:
    facts = probe(int8_ir_ready=False, nvidia_dir=tmp_path / "absent")
    assert "CPUExecutionProvider" in facts.ort_providers  # the dev install has onnxruntime
    assert "CPU" in facts.openvino_devices
    assert facts.nncf_installed and not facts.nvidia_gpu
    (tmp_path / "gpus" / "0000:01:00.0").mkdir(parents=True)
    assert probe(int8_ir_ready=True, nvidia_dir=tmp_path / "gpus").nvidia_gpu


RUNTIMES: tuple[RuntimeSetting, ...] = ("auto", "onnxruntime", "openvino")
DEVICES: tuple[DeviceSetting, ...] = ("auto", "cpu", "cuda", "gpu")
PRECISIONS: tuple[PrecisionSetting, ...] = ("auto", "fp32", "int8", "bf16", "int8-bf16", "fp16")


def _outcome(
    runtime: RuntimeSetting, device: DeviceSetting, precision: PrecisionSetting, facts: MachineFacts
) -> tuple[str, str, str] | str:
    try:
        return _pick(facts, runtime, device, precision)
    except RuntimeSelectionError:
        return "refused"


@pytest.mark.parametrize(
    "facts", [AVX512, AVX2, ARM, NVIDIA, INTEL_GPU], ids=["avx512", "avx2", "arm", "nvidia", "igpu"]
)
def test_openvino_is_probed_whenever_the_choice_can_depend_on_it(facts: MachineFacts) -> None:
    """Where `openvino_matters` says no, the choice is the same as if OpenVINO reported nothing."""
    blind = replace(facts, openvino_devices=(), openvino_bf16=False)
    skipped = 0
    for runtime in RUNTIMES:
        for device in DEVICES:
            for precision in PRECISIONS:
                if openvino_matters(
                    runtime, device, precision, architecture=facts.architecture, cpu_flags=facts.cpu_flags
                ):
                    continue
                skipped += 1
                assert _outcome(runtime, device, precision, blind) == _outcome(
                    runtime, device, precision, facts
                )
    assert skipped > 0


def test_the_default_settings_skip_openvino_only_without_avx512() -> None:
    def default(facts: MachineFacts) -> bool:
        return openvino_matters(
            "auto", "auto", "auto", architecture=facts.architecture, cpu_flags=facts.cpu_flags
        )

    assert default(AVX512)
    assert not default(AVX2) and not default(ARM)


def test_the_download_plans_the_int8_static_build_that_a_start_does_not_wait_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gigaam_api.config import Settings
    from gigaam_api.engines.gigaam import loader

    monkeypatch.setattr(loader, "probe", lambda **_: AVX512)
    settings = Settings(_env_file=None, MODELS_DIR=tmp_path, MODEL="gigaam-v3-ctc")
    assert loader.choose_runtime(settings).precision == "int8"  # serve: at once, weight-only
    assert loader.choose_runtime(settings, ahead=True).precision == "int8-static"  # download: build it
