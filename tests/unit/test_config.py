"""Settings: names as environment variables, normalisation, and errors that name the variable."""

from __future__ import annotations

import pytest

from gigaam_api.config import ConfigError, Settings, deprecation_notes, load_settings
from gigaam_api.engines.registry import resolve_settings


def resolved() -> Settings:
    """The settings as the CLI and the app start with them: loaded, then resolved by the engine registry."""
    return resolve_settings(load_settings(_env_file=None))


def test_defaults() -> None:
    s = load_settings(_env_file=None)
    assert s.MODEL == "gigaam-v3-ctc"
    assert s.GIGAAM_PRECISION == "auto"
    assert "whisper-1" in s.MODEL_ALIASES
    assert s.API_KEY == ()
    assert s.VAD_THRESHOLD == 0.25


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("v3_ctc", "gigaam-v3-ctc"),
        ("V3-RNNT", "gigaam-v3-rnnt"),
        ("gigaam_v3_e2e_rnnt", "gigaam-v3-e2e-rnnt"),
    ],
)
def test_model_short_forms(monkeypatch: pytest.MonkeyPatch, given: str, canonical: str) -> None:
    monkeypatch.setenv("MODEL", given)
    assert resolved().MODEL == canonical


def test_lists_and_case(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_KEY", " a , b,")
    monkeypatch.setenv("QUANTIZATION", "INT8")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    monkeypatch.setenv("VAD_NEG_THRESHOLD", "")
    s = load_settings(_env_file=None)
    assert s.API_KEY == ("a", "b")
    assert s.GIGAAM_PRECISION == "int8"
    assert s.LOG_LEVEL == "DEBUG"
    assert s.VAD_NEG_THRESHOLD is None


def test_invalid_values_name_each_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "eighty")
    monkeypatch.setenv("MAX_RUNNING", "0")
    monkeypatch.setenv("VAD_MIN", "25")
    with pytest.raises(ConfigError) as info:
        load_settings(_env_file=None)
    message = str(info.value)
    assert "PORT" in message and "MAX_RUNNING" in message
    monkeypatch.delenv("PORT")
    monkeypatch.delenv("MAX_RUNNING")
    with pytest.raises(ConfigError, match="VAD_MIN <= VAD_MAX"):
        load_settings(_env_file=None)


@pytest.mark.parametrize("url", ["localhost:11434/v1", "http://[::1/v1", "ftp://llm/v1", "http:///v1"])
def test_a_translation_url_httpx_cannot_call_is_refused_at_start(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("TRANSLATION_BASE_URL", url)
    monkeypatch.setenv("TRANSLATION_MODEL", "m")
    with pytest.raises(ConfigError, match=r"TRANSLATION_BASE_URL: .*must be an http:// or https:// URL"):
        load_settings(_env_file=None)
    monkeypatch.setenv("TRANSLATION_BASE_URL", "https://user:pw@llm.example:8443/v1")
    assert load_settings(_env_file=None).TRANSLATION_BASE_URL.startswith("https://")


def test_an_error_across_settings_quotes_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_KEY", "server-secret")
    monkeypatch.setenv("TRANSLATION_API_KEY", "llm-secret")
    monkeypatch.setenv("TRANSLATION_BASE_URL", "http://llm:8000/v1")  # without TRANSLATION_MODEL
    with pytest.raises(ConfigError, match="needs TRANSLATION_MODEL") as info:
        load_settings(_env_file=None)
    assert "secret" not in str(info.value)


def test_unknown_models_are_refused_at_start_naming_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODEL", "whisper-large")
    with pytest.raises(ConfigError, match="MODEL: unknown model 'whisper-large'"):
        resolved()
    monkeypatch.delenv("MODEL")
    monkeypatch.setenv("MODELS", "gigaam-v3-ctc,whisper-large")
    with pytest.raises(ConfigError, match="MODELS: unknown model 'whisper-large'"):
        resolved()


def test_gigaam_settings_default_to_auto_and_normalise_case(monkeypatch: pytest.MonkeyPatch) -> None:
    s = load_settings(_env_file=None)
    assert (s.GIGAAM_RUNTIME, s.GIGAAM_DEVICE, s.GIGAAM_PRECISION) == ("auto", "auto", "auto")
    monkeypatch.setenv("GIGAAM_RUNTIME", "OpenVINO")
    monkeypatch.setenv("GIGAAM_DEVICE", "CPU")
    monkeypatch.setenv("GIGAAM_PRECISION", "INT8-BF16")
    s = load_settings(_env_file=None)
    assert (s.GIGAAM_RUNTIME, s.GIGAAM_DEVICE, s.GIGAAM_PRECISION) == ("openvino", "cpu", "int8-bf16")
    assert deprecation_notes(s) == []


def test_global_runtime_names_still_work_and_are_noted(monkeypatch: pytest.MonkeyPatch) -> None:
    """RUNTIME, DEVICE and PRECISION were global although only GigaAM reads them: now GIGAAM_*."""
    monkeypatch.setenv("RUNTIME", "OpenVINO")
    monkeypatch.setenv("DEVICE", "CPU")
    monkeypatch.setenv("PRECISION", "INT8-BF16")
    s = load_settings(_env_file=None)
    assert (s.GIGAAM_RUNTIME, s.GIGAAM_DEVICE, s.GIGAAM_PRECISION) == ("openvino", "cpu", "int8-bf16")
    assert deprecation_notes(s) == [
        "RUNTIME is deprecated: set GIGAAM_RUNTIME instead",
        "DEVICE is deprecated: set GIGAAM_DEVICE instead",
        "PRECISION is deprecated: set GIGAAM_PRECISION instead",
    ]
    monkeypatch.setenv("GIGAAM_RUNTIME", "onnxruntime")
    with pytest.raises(ConfigError, match="RUNTIME=openvino contradicts GIGAAM_RUNTIME=onnxruntime"):
        load_settings(_env_file=None)


@pytest.mark.parametrize(("quantization", "precision"), [("none", "fp32"), ("int8", "int8")])
def test_quantization_is_an_alias_for_precision(
    monkeypatch: pytest.MonkeyPatch, quantization: str, precision: str
) -> None:
    monkeypatch.setenv("QUANTIZATION", quantization)
    assert load_settings(_env_file=None).GIGAAM_PRECISION == precision
    monkeypatch.setenv("GIGAAM_PRECISION", precision)
    assert load_settings(_env_file=None).GIGAAM_PRECISION == precision


def test_quantization_contradicting_precision_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUANTIZATION", "int8")
    monkeypatch.setenv("GIGAAM_PRECISION", "fp32")
    with pytest.raises(ConfigError, match="QUANTIZATION=int8 contradicts GIGAAM_PRECISION=fp32"):
        load_settings(_env_file=None)
    monkeypatch.setenv("GIGAAM_PRECISION", "fp64")
    with pytest.raises(ConfigError, match="GIGAAM_PRECISION"):
        load_settings(_env_file=None)


def test_audio_budget_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = load_settings(_env_file=None)
    assert (defaults.MAX_DECODE_RATIO, defaults.decode_floor_bytes) == (128, 64 * 2**20)
    assert defaults.spool_max_bytes == 8192 * 2**20
    monkeypatch.setenv("MAX_DECODE_RATIO", "0")
    monkeypatch.setenv("SPOOL_MAX_MB", "-1")
    with pytest.raises(ConfigError) as info:
        load_settings(_env_file=None)
    assert "MAX_DECODE_RATIO" in str(info.value) and "SPOOL_MAX_MB" in str(info.value)


def test_admission_defaults_fit_open_webui_chunks_of_a_12_hour_file() -> None:
    s = load_settings(_env_file=None)
    # Open WebUI cuts a 12-hour file into 9 mp3 chunks (32 kbit/s, 20 MiB each) and sends them at once.
    assert (s.MAX_RUNNING, s.MAX_WAITING) == (8, 64)
    assert s.MAX_RUNNING + s.MAX_WAITING >= 9 * 3
    # As many uploads at once as the line holds: too_many_uploads only when the line would be full anyway.
    assert s.MAX_UPLOADS == s.MAX_RUNNING + s.MAX_WAITING


def test_max_queue_is_an_alias_for_max_running(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_QUEUE", "3")
    assert load_settings(_env_file=None).MAX_RUNNING == 3
    monkeypatch.setenv("MAX_RUNNING", "3")
    assert load_settings(_env_file=None).MAX_RUNNING == 3
    monkeypatch.setenv("MAX_RUNNING", "4")
    with pytest.raises(ConfigError, match="MAX_QUEUE=3 contradicts MAX_RUNNING=4"):
        load_settings(_env_file=None)


def test_max_uploads_follows_the_line_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_RUNNING", "3")
    monkeypatch.setenv("MAX_WAITING", "10")
    assert load_settings(_env_file=None).MAX_UPLOADS == 13
    monkeypatch.delenv("MAX_RUNNING")
    monkeypatch.setenv("MAX_QUEUE", "5")  # the older name counts as MAX_RUNNING
    assert load_settings(_env_file=None).MAX_UPLOADS == 15
    monkeypatch.setenv("MAX_UPLOADS", "4")
    assert load_settings(_env_file=None).MAX_UPLOADS == 4


def test_deprecated_names_in_use_are_noted_with_their_replacement(monkeypatch: pytest.MonkeyPatch) -> None:
    assert deprecation_notes(load_settings(_env_file=None)) == []
    monkeypatch.setenv("QUANTIZATION", "int8")
    monkeypatch.setenv("MAX_QUEUE", "2")
    assert deprecation_notes(load_settings(_env_file=None)) == [
        "QUANTIZATION is deprecated: set GIGAAM_PRECISION instead",
        "MAX_QUEUE is deprecated: set MAX_RUNNING instead",
    ]


def test_url_ports_are_ports_and_ranges(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings(_env_file=None).JOBS_URL_PORTS == ((80, 80), (443, 443))
    monkeypatch.setenv("JOBS_URL_PORTS", " 443, 8000-8099 ")
    assert load_settings(_env_file=None).JOBS_URL_PORTS == ((443, 443), (8000, 8099))
    for bad in ("http", "0", "8099-8000", "70000"):
        monkeypatch.setenv("JOBS_URL_PORTS", bad)
        with pytest.raises(ConfigError, match="JOBS_URL_PORTS"):
            load_settings(_env_file=None)
