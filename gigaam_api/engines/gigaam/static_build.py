"""Build the static int8 IR and judge it: the child process `static_ir.ensure_static_ir` starts.

    python -m gigaam_api.engines.gigaam.static_build MODEL_DIR ONNX_FILE VERSION THREADS

Quantizes with NNCF, then runs fp32 (OpenVINO), the static IR and ONNX Runtime int8 on the calibration
chunks and compares each one's frame argmax with fp32's. Writes `openvino-int8-static/` atomically:
the IR and the verdict when accepted, the verdict alone when not (so the next start does not rebuild).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from gigaam_api.engines.gigaam.calibration import Feeds, calibration_feeds
from gigaam_api.engines.gigaam.ir import replace_dir
from gigaam_api.engines.gigaam.static_ir import (
    STATIC_DIR,
    TEMP_PREFIX,
    Verdict,
    int8_onnx_file,
    source_stamp,
    write_verdict,
)

Run = Callable[[Feeds], npt.NDArray[Any]]


def sensitive_layers(model: Any) -> list[str]:
    """The convolutions before the first matrix product: GigaAM's subsampling, which reads the log-mel
    features. Found by structure, because exported graphs name their nodes differently."""
    ops = model.get_ordered_ops()
    first_matmul = next(i for i, op in enumerate(ops) if op.get_type_name() == "MatMul")
    return [op.get_friendly_name() for op in ops[:first_matmul] if op.get_type_name() == "Convolution"]


def quantize(onnx_path: Path, feeds: list[Feeds], output: Path) -> None:
    import nncf
    import openvino as ov

    model = ov.Core().read_model(onnx_path)
    quantized = nncf.quantize(
        model,
        nncf.Dataset(feeds),
        model_type=nncf.ModelType.TRANSFORMER,
        subset_size=len(feeds),
        ignored_scope=nncf.IgnoredScope(names=sensitive_layers(model)),
    )
    ov.save_model(quantized, output, compress_to_fp16=False)


def frame_agreement(reference: Sequence[npt.NDArray[Any]], other: Sequence[npt.NDArray[Any]]) -> float:
    """The share of output frames whose most likely token is the same (CTC's greedy decision)."""
    same = sum(int((r.argmax(-1) == o.argmax(-1)).sum()) for r, o in zip(reference, other, strict=True))
    frames: int = sum(r.shape[0] * r.shape[1] for r in reference)
    return same / frames


def judge(agreement: float, reference: float) -> tuple[bool, str]:
    figures = f"frame agreement with fp32 {agreement:.2%}, ONNX Runtime int8's {reference:.2%}"
    if agreement >= reference:
        return True, f"fidelity gate passed: {figures}"
    return False, f"fidelity gate: below ONNX Runtime int8 ({figures})"


def openvino_runner(path: Path, threads: int) -> Run:
    import openvino as ov

    compiled = ov.Core().compile_model(
        str(path), "CPU", {"INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": threads}
    )
    return lambda feeds: np.asarray(compiled(feeds)[0])


def onnxruntime_runner(path: Path, threads: int) -> Run:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return lambda feeds: np.asarray(session.run(None, feeds)[0])


def outputs(run: Run, feeds: list[Feeds]) -> list[npt.NDArray[Any]]:
    return [run(f) for f in feeds]


def build(model_dir: Path, onnx_file: str, version: str, threads: int) -> Verdict:
    for stale in model_dir.glob(f"{TEMP_PREFIX}*"):  # left by a killed build (the parent holds the lock)
        shutil.rmtree(stale, ignore_errors=True)
    stamp = source_stamp(model_dir, onnx_file)
    temp = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=model_dir))
    try:
        started = time.perf_counter()
        feeds = calibration_feeds(version)
        xml = temp / Path(onnx_file).with_suffix(".xml").name
        quantize(model_dir / onnx_file, feeds, xml)
        seconds = round(time.perf_counter() - started, 1)
        fp32 = outputs(openvino_runner(model_dir / onnx_file, threads), feeds)
        agreement = frame_agreement(fp32, outputs(openvino_runner(xml, threads), feeds))
        reference = frame_agreement(
            fp32, outputs(onnxruntime_runner(model_dir / int8_onnx_file(onnx_file), threads), feeds)
        )
        accepted, reason = judge(agreement, reference)
        verdict = Verdict(accepted, reason, round(agreement, 5), round(reference, 5), seconds)
        if not accepted:
            xml.unlink()
            xml.with_suffix(".bin").unlink()
        write_verdict(temp, verdict, stamp)
        replace_dir(temp, model_dir / STATIC_DIR)
        return verdict
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise


def main(argv: Sequence[str]) -> None:
    model_dir, onnx_file, version, threads = argv
    build(Path(model_dir), onnx_file, version, int(threads))


if __name__ == "__main__":
    main(sys.argv[1:])
