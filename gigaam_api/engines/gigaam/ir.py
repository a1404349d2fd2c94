"""The int8 weight-only OpenVINO IR, built once from the fp32 ONNX files with NNCF and kept beside them.

`MODELS_DIR/<model>/openvino-int8/` holds one `.xml` + `.bin` per ONNX file and `source.json`, the size
and mtime of each source file it was built from. A start loads the IR only when that stamp matches the
sources on disk, otherwise it is rebuilt. A build writes into a hidden temporary directory and renames it
into place when complete, so an interrupted build never leaves a directory that a later start would
load; a file lock keeps two processes from building at once.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Final

from gigaam_api.engines.base import EngineUnavailableError

log = logging.getLogger(__name__)

IR_DIR: Final = "openvino-int8"
STAMP_FILE: Final = "source.json"
_TEMP_PREFIX: Final = ".openvino-int8-"
_LOCK_FILE: Final = ".openvino-int8.lock"
_FORMAT: Final = 1  # bump when the conversion changes, so older IRs are rebuilt


class Int8IrUnavailableError(EngineUnavailableError):
    """The IR is needed but cannot be built here; the message says what to install or run."""


def ir_path(model_dir: Path, onnx_file: str) -> Path:
    """The IR `.xml` that replaces `onnx_file` (e.g. `v3_ctc.onnx` → `openvino-int8/v3_ctc.xml`)."""
    return model_dir / IR_DIR / Path(onnx_file).with_suffix(".xml").name


def source_stamp(model_dir: Path, onnx_files: Sequence[str]) -> dict[str, object]:
    sources = {}
    for name in onnx_files:
        st = (model_dir / name).stat()
        sources[name] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
    return {"format": _FORMAT, "mode": "INT8_ASYM", "sources": sources}


def ir_ready(model_dir: Path, onnx_files: Sequence[str]) -> bool:
    """A complete IR built from exactly the ONNX files now on disk."""
    try:
        stamp = json.loads((model_dir / IR_DIR / STAMP_FILE).read_text(encoding="utf-8"))
        current = source_stamp(model_dir, onnx_files)
    except (OSError, ValueError):
        return False
    return stamp == current and all(
        ir_path(model_dir, f).is_file() and ir_path(model_dir, f).with_suffix(".bin").is_file()
        for f in onnx_files
    )


def ensure_int8_ir(model_dir: Path, onnx_files: Sequence[str]) -> float | None:
    """Build the IR unless a current one is on disk; returns the build's seconds, None when reused."""
    if ir_ready(model_dir, onnx_files):
        return None
    _require_nncf()
    with build_lock(model_dir):
        if ir_ready(model_dir, onnx_files):  # another process built it while this one waited
            return None
        started = time.perf_counter()
        _build(model_dir, onnx_files)
        return time.perf_counter() - started


def _require_nncf() -> None:
    from importlib.util import find_spec

    if find_spec("nncf") is None:
        raise Int8IrUnavailableError(
            "The int8 OpenVINO IR is not on disk and NNCF, which builds it, is not installed. Install the "
            "`convert` extra (`uv sync --extra convert`, included in `make run`), or build the IR where it "
            "is installed (`gigaam-api download`) and copy MODELS_DIR; or set GIGAAM_PRECISION=fp32."
        )


@contextmanager
def build_lock(model_dir: Path, name: str = _LOCK_FILE) -> Iterator[None]:
    with (model_dir / name).open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _build(model_dir: Path, onnx_files: Sequence[str]) -> None:
    import nncf
    import openvino as ov

    for stale in model_dir.glob(f"{_TEMP_PREFIX}*"):  # left by a build that was killed (we hold the lock)
        shutil.rmtree(stale, ignore_errors=True)
    stamp = source_stamp(model_dir, onnx_files)
    temp = Path(tempfile.mkdtemp(prefix=_TEMP_PREFIX, dir=model_dir))
    try:
        core = ov.Core()
        for name in onnx_files:
            log.info("building the int8 OpenVINO IR of %s (NNCF weight compression, INT8_ASYM)", name)
            model = core.read_model(model_dir / name)
            compressed = nncf.compress_weights(model, mode=nncf.CompressWeightsMode.INT8_ASYM)
            # compress_to_fp16=False: weights NNCF left in f32 (norms, biases) stay exact.
            ov.save_model(compressed, temp / Path(name).with_suffix(".xml").name, compress_to_fp16=False)
        (temp / STAMP_FILE).write_text(json.dumps(stamp, indent=1) + "\n", encoding="utf-8")
        replace_dir(temp, model_dir / IR_DIR)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise


def replace_dir(new: Path, target: Path) -> None:
    """Put `new` at `target` with renames only: at every moment `target` is absent, old or new."""
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=_TEMP_PREFIX, dir=target.parent))
        os.replace(target, old / target.name)
        os.replace(new, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(new, target)
