"""The speaker model's runtime and precision on made-up machines: every default, fallback and refusal."""

from __future__ import annotations

from dataclasses import replace
from typing import get_args

import pytest

from gigaam_api.config import SpeakerPrecision, SpeakerRuntime, load_settings
from gigaam_api.engines.base import RuntimeSelectionError
from gigaam_api.speakers.runtime import SpeakerMachine, choose, probe

# The EPYC this was measured on: AVX-512 with bf16, OpenVINO installed.
EPYC = SpeakerMachine(
    architecture="x86_64",
    cpu_flags=frozenset({"avx2", "avx512f", "avx512_vnni", "avx512_bf16"}),
    openvino_cpu=True,
    openvino_bf16=True,
)
SKYLAKE = replace(EPYC, cpu_flags=frozenset({"avx2", "avx512f"}), openvino_bf16=False)
AVX2 = replace(SKYLAKE, cpu_flags=frozenset({"avx2", "fma"}))
ARM = replace(AVX2, architecture="arm64", cpu_flags=frozenset({"asimd"}))
NO_OPENVINO = replace(EPYC, openvino_cpu=False, openvino_bf16=False)


def _pick(
    machine: SpeakerMachine, runtime: SpeakerRuntime = "auto", precision: SpeakerPrecision = "auto"
) -> tuple[str, str]:
    choice = choose(runtime, precision, machine)
    assert choice.reason and choice.reason in choice.describe()
    return choice.runtime, choice.precision


def test_auto_runs_openvino_bf16_where_the_cpu_has_bf16() -> None:
    assert _pick(EPYC) == ("openvino", "bf16")
    assert "bf16" in choose("auto", "auto", EPYC).reason


def test_auto_runs_openvino_fp32_on_avx512_without_bf16() -> None:
    assert _pick(SKYLAKE) == ("openvino", "fp32")


@pytest.mark.parametrize("machine", [AVX2, ARM, NO_OPENVINO], ids=["avx2", "arm64", "no-openvino"])
def test_auto_falls_back_to_onnxruntime_fp32(machine: SpeakerMachine) -> None:
    assert _pick(machine) == ("onnxruntime", "fp32")
    assert _pick(machine, precision="fp32") == ("onnxruntime", "fp32")


def test_without_openvino_the_reason_says_so() -> None:
    assert "OpenVINO is not installed" in choose("auto", "auto", NO_OPENVINO).reason


def test_fp32_keeps_openvino_but_not_bf16() -> None:
    assert _pick(EPYC, precision="fp32") == ("openvino", "fp32")


def test_onnxruntime_forced_is_fp32_everywhere() -> None:
    for machine in (EPYC, SKYLAKE, AVX2, ARM, NO_OPENVINO):
        assert _pick(machine, runtime="onnxruntime") == ("onnxruntime", "fp32")


def test_openvino_forced_runs_where_the_cpu_plugin_is_even_without_avx512() -> None:
    assert _pick(AVX2, runtime="openvino") == ("openvino", "fp32")
    assert _pick(ARM, runtime="openvino", precision="fp32") == ("openvino", "fp32")
    assert _pick(EPYC, runtime="openvino") == ("openvino", "bf16")


def test_bf16_asked_runs_on_openvino() -> None:
    assert _pick(EPYC, precision="bf16") == ("openvino", "bf16")


@pytest.mark.parametrize(
    ("machine", "runtime", "precision", "message"),
    [
        (NO_OPENVINO, "openvino", "auto", "SPEAKER_RUNTIME=openvino needs OpenVINO's CPU device"),
        (NO_OPENVINO, "auto", "bf16", "SPEAKER_PRECISION=bf16 needs OpenVINO's CPU device"),
        (SKYLAKE, "auto", "bf16", "needs a CPU with bf16 instructions"),
        (AVX2, "openvino", "bf16", "needs a CPU with bf16 instructions"),
        (EPYC, "onnxruntime", "bf16", "SPEAKER_PRECISION=bf16 runs on OpenVINO"),
    ],
)
def test_what_this_machine_cannot_run_is_refused_with_the_setting_named(
    machine: SpeakerMachine, runtime: SpeakerRuntime, precision: SpeakerPrecision, message: str
) -> None:
    with pytest.raises(RuntimeSelectionError, match=message):
        choose(runtime, precision, machine)


def test_every_setting_value_is_handled_on_every_machine() -> None:
    for machine in (EPYC, SKYLAKE, AVX2, ARM, NO_OPENVINO):
        for runtime in get_args(SpeakerRuntime):
            for precision in get_args(SpeakerPrecision):
                try:
                    choice = choose(runtime, precision, machine)
                except RuntimeSelectionError:
                    continue
                assert choice.runtime in ("onnxruntime", "openvino")
                assert choice.precision in ("fp32", "bf16")
                assert choice.precision == "fp32" or machine.openvino_bf16


def test_the_settings_read_case_insensitively_and_default_to_auto() -> None:
    settings = load_settings(_env_file=None, SPEAKER_RUNTIME=" OpenVINO ", SPEAKER_PRECISION="BF16")
    assert (settings.SPEAKER_RUNTIME, settings.SPEAKER_PRECISION) == ("openvino", "bf16")
    defaults = load_settings(_env_file=None)
    assert (defaults.SPEAKER_RUNTIME, defaults.SPEAKER_PRECISION) == ("auto", "auto")


def test_probe_reports_this_machine_consistently() -> None:
    machine = probe()
    assert machine.architecture
    assert machine.openvino_cpu or not machine.openvino_bf16
