"""GigaAM on OpenVINO against ONNX Runtime, and the int8 IR's life cycle, on the tiny models.

Every variant runs through `load_recognizer` on both runtimes at full precision: same text, same tokens
and word times, log-probs equal to float tolerance. The int8 IR is built with the real NNCF, reused
without rebuilding, rebuilt when its source changes, and a build that dies leaves nothing loadable.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import httpx
import numpy as np
import numpy.typing as npt
import openvino
import pytest
from onnx_asr.asr import TimestampedResult

from gigaam_api.engines.gigaam import ir
from gigaam_api.engines.gigaam.loader import fp32_onnx_files, load_recognizer
from gigaam_api.engines.gigaam.openvino import CACHE_DIR
from gigaam_api.engines.gigaam.runtime import RuntimeChoice
from tests.fixtures.live_server import LiveServer
from tests.fixtures.speech import synthesize
from tests.fixtures.tiny_model import MODEL_FILES, write_tiny_model

ORT_FP32 = RuntimeChoice("onnxruntime", "cpu", "fp32", "test")
OV_FP32 = RuntimeChoice("openvino", "cpu", "fp32", "test")
OV_INT8 = RuntimeChoice("openvino", "cpu", "int8", "test")

Audio = npt.NDArray[np.float32]


@pytest.fixture(scope="module")
def variants_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    for model in MODEL_FILES:
        write_tiny_model(root / model, model)
    return root


@pytest.fixture(scope="module")
def clips() -> list[Audio]:
    """Two phrases and one second of silence, recognised as one batch."""
    return [
        synthesize("Добрый день. Сегодня мы поговорим о распознавании речи."),
        synthesize("Завтра будет солнечно и тепло."),
        np.zeros(16_000, np.float32),
    ]


def _recognize(
    model_dir: Path, model: str, choice: RuntimeChoice, clips: list[Audio]
) -> list[TimestampedResult]:
    asr = load_recognizer(model_dir, model, choice, num_threads=1)
    return asr.recognize(list[str | Path | Audio](clips))


@pytest.mark.parametrize("model", list(MODEL_FILES))
def test_openvino_fp32_gives_onnxruntime_results(variants_dir: Path, model: str, clips: list[Audio]) -> None:
    reference = _recognize(variants_dir / model, model, ORT_FP32, clips)
    results = _recognize(variants_dir / model, model, OV_FP32, clips)

    assert [r.text for r in results] == [r.text for r in reference]
    assert all(r.text for r in reference[:2]) and reference[2].text == ""
    for got, want in zip(results, reference, strict=True):
        assert got.tokens == want.tokens
        assert got.timestamps == want.timestamps
        np.testing.assert_allclose(got.logprobs or [], want.logprobs or [], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("model", ["gigaam-v3-ctc", "gigaam-v3-e2e-rnnt"])
def test_two_threads_recognise_at_once_as_one_does(
    variants_dir: Path, model: str, clips: list[Audio]
) -> None:
    """With two inference streams the scheduler calls the engine from two threads at once: each call takes
    its own infer request (one request used by two threads fails with "Infer Request is busy" or mixes
    tensors)."""
    asr = load_recognizer(variants_dir / model, model, OV_FP32, num_threads=1, streams=2)
    expected = asr.recognize(list[str | Path | Audio](clips))
    with ThreadPoolExecutor(2) as pool:
        runs = [pool.submit(asr.recognize, list[str | Path | Audio](clips)) for _ in range(16)]
        results = [run.result(timeout=300) for run in runs]
    assert all([r.text for r in result] == [e.text for e in expected] for result in results)
    assert all([r.tokens for r in result] == [e.tokens for e in expected] for result in results)


def test_compiled_model_cache_is_written_beside_the_weights(variants_dir: Path, clips: list[Audio]) -> None:
    model_dir = variants_dir / "gigaam-v3-ctc"
    _recognize(model_dir, "gigaam-v3-ctc", OV_FP32, clips[:1])
    assert any((model_dir / CACHE_DIR).glob("*.blob"))


@pytest.fixture
def rnnt_dir(tmp_path: Path) -> Path:
    """A fresh three-file model per test, so IR builds do not see each other's results."""
    return write_tiny_model(tmp_path / "gigaam-v3-e2e-rnnt", "gigaam-v3-e2e-rnnt")


SOURCES = fp32_onnx_files("gigaam-v3-e2e-rnnt")


def _int8_weights(xml: Path) -> bool:
    return 'element_type="u8"' in xml.read_text(encoding="utf-8")


def test_int8_ir_is_built_on_first_load_and_recognises(rnnt_dir: Path, clips: list[Audio]) -> None:
    assert not ir.ir_ready(rnnt_dir, SOURCES)
    results = _recognize(rnnt_dir, "gigaam-v3-e2e-rnnt", OV_INT8, clips)

    assert ir.ir_ready(rnnt_dir, SOURCES)
    assert _int8_weights(ir.ir_path(rnnt_dir, "v3_e2e_rnnt_encoder.onnx"))
    assert results[0].text and results[1].text and results[2].text == ""
    assert not list(rnnt_dir.glob(".openvino-int8-*"))  # no temporary directory left behind


def test_int8_ir_is_reused_without_rebuilding(rnnt_dir: Path) -> None:
    assert ir.ensure_int8_ir(rnnt_dir, SOURCES) is not None  # built
    encoder = ir.ir_path(rnnt_dir, SOURCES[0])
    before = encoder.stat()

    assert ir.ensure_int8_ir(rnnt_dir, SOURCES) is None  # a restart: reused
    after = encoder.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_int8_ir_is_rebuilt_when_a_source_changes(rnnt_dir: Path) -> None:
    ir.ensure_int8_ir(rnnt_dir, SOURCES)
    joint = rnnt_dir / SOURCES[2]
    stat = joint.stat()
    os.utime(joint, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # e.g. a new download
    assert not ir.ir_ready(rnnt_dir, SOURCES)

    assert ir.ensure_int8_ir(rnnt_dir, SOURCES) is not None
    assert ir.ir_ready(rnnt_dir, SOURCES)


def test_an_interrupted_build_leaves_nothing_loadable(
    rnnt_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The build dies after writing the first of three graphs (as a kill would): no IR appears."""
    real_save = openvino.save_model
    saved: list[Path] = []

    def save_then_die(model: openvino.Model, path: Path, **kwargs: bool) -> None:
        if saved:
            raise KeyboardInterrupt
        real_save(model, path, **kwargs)
        saved.append(Path(path))

    monkeypatch.setattr(openvino, "save_model", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        ir.ensure_int8_ir(rnnt_dir, SOURCES)

    assert saved and not saved[0].exists()
    assert not (rnnt_dir / ir.IR_DIR).exists()
    assert not list(rnnt_dir.glob(".openvino-int8-*"))
    assert not ir.ir_ready(rnnt_dir, SOURCES)


def test_a_killed_builds_leftovers_are_ignored_then_removed(rnnt_dir: Path) -> None:
    """SIGKILL skips the cleanup: the half-written temporary directory must not count, and goes next time."""
    leftover = rnnt_dir / ".openvino-int8-killed"
    leftover.mkdir()
    (leftover / "v3_e2e_rnnt_encoder.xml").write_text("<net", encoding="utf-8")
    assert not ir.ir_ready(rnnt_dir, SOURCES)

    ir.ensure_int8_ir(rnnt_dir, SOURCES)
    assert not leftover.exists()
    assert ir.ir_ready(rnnt_dir, SOURCES)


def test_without_nncf_a_missing_ir_is_a_clear_error(rnnt_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "nncf", None)  # as if the `convert` extra were not installed
    with pytest.raises(ir.Int8IrUnavailableError, match="convert"):
        ir.ensure_int8_ir(rnnt_dir, SOURCES)
    assert not (rnnt_dir / ir.IR_DIR).exists()


def test_the_server_on_openvino_answers_as_on_onnxruntime_and_says_so(
    server: LiveServer, make_server: Callable[..., LiveServer], audio_dir: Path
) -> None:
    """A real server with RUNTIME=openvino: same verbose_json as the ONNX Runtime fp32 server; /health
    reports the runtime, device, precision and the reason."""
    openvino_server = make_server(GIGAAM_RUNTIME="openvino", GIGAAM_PRECISION="fp32")
    bodies = []
    for live in (server, openvino_server):
        with (audio_dir / "greeting.wav").open("rb") as f:
            result = live.client().audio.transcriptions.create(
                model="whisper-1", file=f, response_format="verbose_json", timestamp_granularities=["word"]
            )
        bodies.append(result.model_dump(exclude={"usage"}))
    assert bodies[0]["text"] and bodies[1] == bodies[0]

    engine = httpx.get(f"{openvino_server.url}/health").json()["engine"]
    why = "GIGAAM_RUNTIME=openvino"
    assert engine == {"runtime": "openvino", "device": "cpu", "precision": "fp32", "streams": 1, "why": why}
    assert httpx.get(f"{server.url}/health").json()["engine"]["runtime"] == "onnxruntime"


def _resident_mapped_bytes(directory: Path) -> int:
    """This process's resident bytes of file mappings under `directory` (/proc/self/smaps)."""
    under, mapped, total = f"{directory.resolve()}/", False, 0
    for line in Path("/proc/self/smaps").read_text().splitlines():
        fields = line.split()
        if not fields[0].endswith(":"):  # a mapping's header: address perms offset dev inode [path]
            mapped = len(fields) >= 6 and fields[5].startswith(under)
        elif fields[0] == "Rss:" and mapped:
            total += int(fields[1]) * 1024
    return total


def test_loaded_engine_holds_no_pages_of_the_model_files(rnnt_dir: Path, clips: list[Audio]) -> None:
    """The CPU plugin keeps its own packed weights: the mapped compiled model leaves the resident set."""
    load_recognizer(rnnt_dir, "gigaam-v3-e2e-rnnt", OV_FP32, num_threads=1)  # compiles, fills the cache
    asr = load_recognizer(rnnt_dir, "gigaam-v3-e2e-rnnt", OV_FP32, num_threads=1)  # maps the cached blob

    assert any((rnnt_dir / CACHE_DIR).glob("*.blob"))
    assert _resident_mapped_bytes(rnnt_dir) == 0
    assert asr.recognize(list[str | Path | Audio](clips[:1]))[0].text  # what it dropped was not needed


@pytest.mark.parametrize("runtime", ["onnxruntime", "openvino"])
def test_a_server_with_two_streams_answers_at_once_as_one_at_a_time_and_says_so(
    server: LiveServer, make_server: Callable[..., LiveServer], audio_dir: Path, runtime: str
) -> None:
    """INFERENCE_STREAMS=2 on two threads: /health says two streams, and uploads transcribed two at once
    (ONNX Runtime: a session each; OpenVINO: one compiled model, two CPU streams, a request per call)
    read as the same uploads one at a time."""
    two = make_server(GIGAAM_RUNTIME=runtime, GIGAAM_PRECISION="fp32", NUM_THREADS=2, INFERENCE_STREAMS=2)
    assert httpx.get(f"{two.url}/health").json()["engine"]["streams"] == 2
    assert httpx.get(f"{server.url}/health").json()["engine"]["streams"] == 1

    def transcribe(live: LiveServer, name: str) -> str:
        with (audio_dir / f"{name}.wav").open("rb") as f:
            return live.client().audio.transcriptions.create(model="whisper-1", file=f).text

    names = ["greeting", "weather"]
    expected = [transcribe(two, name) for name in names]
    with ThreadPoolExecutor(2) as pool:
        got = list(pool.map(partial(transcribe, two), names * 4))
    assert got == expected * 4 and all(expected)
