"""The static int8 OpenVINO IR (`GIGAAM_PRECISION=int8-static`): weights and activations in int8, so the CPU's
integer dot-product instructions (AVX-512 VNNI, AMX) do the matrix products.

NNCF's post-training quantization takes activation ranges from the shipped calibration speech
(`calibration.py`) and keeps the subsampling convolutions in f32: quantizing the log-mel input and the
first convolution cost more agreement with fp32 than all other layers together (docs/decisions.md).
A fidelity gate then compares it and ONNX Runtime int8 with fp32 on the same chunks; an IR that agrees
less with fp32 than ONNX Runtime int8 does is not kept, and the service runs the weight-only int8 IR.

`MODELS_DIR/<model>/openvino-int8-static/` holds the `.xml` + `.bin` (only when accepted) and
`verdict.json`: the gate's figures and the stamp of the files it was built from and compared with. It is
built once per machine in a child process (NNCF peaks at several GB, which the serving process would
otherwise keep), into a hidden temporary directory renamed into place when complete, under a file lock.
CTC models only: their one graph is the whole acoustic model, and the gate's frame agreement is defined
on its output.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

from gigaam_api.engines.gigaam.ir import build_lock

log = logging.getLogger(__name__)

STATIC_DIR: Final = "openvino-int8-static"
VERDICT_FILE: Final = "verdict.json"
TEMP_PREFIX: Final = ".int8-static-build-"  # not ir.py's `.openvino-int8-*`, which its builds clear
LOCK_FILE: Final = ".openvino-int8-static.lock"
FORMAT: Final = 1  # bump when the quantization or the gate changes, so older verdicts are redone


@dataclass(frozen=True, slots=True)
class Verdict:
    """The fidelity gate's result: frame argmax agreement with fp32 on the calibration chunks."""

    accepted: bool
    reason: str  # why not, or the figures that let it in
    agreement: float | None = None  # the static IR's
    reference: float | None = None  # ONNX Runtime int8's
    build_seconds: float | None = None


def static_ir_path(model_dir: Path, onnx_file: str) -> Path:
    return model_dir / STATIC_DIR / Path(onnx_file).with_suffix(".xml").name


def int8_onnx_file(onnx_file: str) -> str:
    """The hub's ONNX Runtime int8 file beside an fp32 one (`v3_ctc.onnx` → `v3_ctc.int8.onnx`)."""
    return str(Path(onnx_file).with_suffix(".int8.onnx"))


def source_stamp(model_dir: Path, onnx_file: str) -> dict[str, object]:
    sources = {}
    for name in (onnx_file, int8_onnx_file(onnx_file)):
        st = (model_dir / name).stat()
        sources[name] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
    return {"format": FORMAT, "sources": sources}


def read_verdict(model_dir: Path, onnx_files: list[str]) -> Verdict | None:
    """The gate's verdict on an IR built from the files now on disk; None when there is none yet."""
    if len(onnx_files) != 1:
        return Verdict(False, "int8-static covers CTC models (one graph) only")
    try:
        saved = json.loads((model_dir / STATIC_DIR / VERDICT_FILE).read_text(encoding="utf-8"))
        if saved.pop("stamp") != source_stamp(model_dir, onnx_files[0]):
            return None
        verdict = Verdict(**saved)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if verdict.accepted and not static_ir_path(model_dir, onnx_files[0]).with_suffix(".bin").is_file():
        return None
    return verdict


def ensure_static_ir(model_dir: Path, onnx_files: list[str], version: str, num_threads: int) -> Verdict:
    """The verdict on the static IR, building it (in a child process) when there is none yet."""
    verdict = read_verdict(model_dir, onnx_files)
    if verdict is not None:
        return verdict
    onnx_file = onnx_files[0]
    if not (model_dir / int8_onnx_file(onnx_file)).is_file():
        return Verdict(
            False,
            f"the fidelity gate compares with ONNX Runtime int8, and {int8_onnx_file(onnx_file)} is not on "
            "disk (`gigaam-api download` fetches it)",
        )
    from importlib.util import find_spec

    if find_spec("nncf") is None:
        return Verdict(False, "NNCF, which builds it, is not installed (the `convert` extra)")
    with build_lock(model_dir, LOCK_FILE):
        verdict = read_verdict(model_dir, onnx_files)  # another process may have built it meanwhile
        if verdict is not None:
            return verdict
        log.info(
            "building the int8-static OpenVINO IR of %s (NNCF, in a child process; a few minutes)", onnx_file
        )
        command = [
            sys.executable,
            "-m",
            "gigaam_api.engines.gigaam.static_build",
            str(model_dir),
            onnx_file,
            version,
            str(num_threads),
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            return Verdict(False, f"the build failed (exit status {done.returncode}: {last})")
    return read_verdict(model_dir, onnx_files) or Verdict(False, "the build left no verdict")


def write_verdict(directory: Path, verdict: Verdict, stamp: dict[str, object]) -> None:
    text = json.dumps({**asdict(verdict), "stamp": stamp}, indent=1) + "\n"
    (directory / VERDICT_FILE).write_text(text, encoding="utf-8")
