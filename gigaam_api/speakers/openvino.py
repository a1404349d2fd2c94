"""The speaker model as an OpenVINO compiled model on the CPU, behind `InferenceSession.run`'s signature.

No compiled-blob cache: the model is a few tens of MB and compiles in about a second, on the first
diarized request only. Its input shapes are runs of 1-4 windows, nearly all of the full length (a
region shorter than a window gives one of its own). The CPU plugin's runtime cache gets a bound of its
own: CAM++ runs about 300 shape-specific kernels, so the ASR model's bound (50) rebuilt many of them on
every run of a new batch size (measured on the 10-minute file, in one process, before windows were
skipped: 8.8 CPU s of embedding at 50, 6.96 at 150, 6.25 at 300); 100 holds less (+12 MB over runs of
every batch size, +29 MB at 300), within diarization's memory target (docs/speakers.md).

CAM++ pools 100-frame segments in ceil mode, which PyTorch and ONNX Runtime run over a shorter window
(one partial segment) but OpenVINO's shape check refuses ("kernel larger than the data"); its pools are
rewritten to pad their end by a kernel less one frame, padding excluded from the average: the same
segments, the same averages, at any length (tests/integration/test_speaker_runtime.py).
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import openvino as ov
from openvino import opset14

from gigaam_api.cpus import StreamPlan
from gigaam_api.engines.openvino_cpu import OpenVinoSession, bound_primitive_cache
from gigaam_api.engines.resident import drop_mapped_files
from gigaam_api.speakers.runtime import SpeakerRuntimeChoice

_INFERENCE_PRECISION = {"fp32": "f32", "bf16": "bf16"}
RUNTIME_CACHE_CAPACITY: Final = 100  # see above


def compile_model(
    model: Path,
    choice: SpeakerRuntimeChoice,
    plan: StreamPlan,
    example: Mapping[str, npt.NDArray[np.float32]],
) -> OpenVinoSession:
    """One CPU stream per inference stream, each on that stream's threads, as the ASR model's.

    Compiled from an IR file written for the purpose, not from the model in memory: OpenVINO then maps
    the weights from the file instead of keeping a heap copy beside the CPU plugin's packed one, and once
    `example` has run (the first inference packs them) the mapping's pages are dropped
    (engines/resident.py). Measured beside a loaded ASR model: +97 MB for CAM++ compiled from memory,
    +35 MB this way. The file is deleted at once; its pages stay mapped and come back from the page cache
    if ever read again."""
    bound_primitive_cache()
    options: dict[str, str | int] = {
        "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_PRECISION_HINT": _INFERENCE_PRECISION[choice.precision],
        "INFERENCE_NUM_THREADS": plan.streams * plan.threads,
        "CPU_RUNTIME_CACHE_CAPACITY": RUNTIME_CACHE_CAPACITY,
    }
    if plan.streams > 1:
        options["NUM_STREAMS"] = plan.streams
    with tempfile.TemporaryDirectory(prefix="gigaam-speaker-") as scratch:
        ir = Path(scratch) / "speaker.xml"
        ov.save_model(read_model(model), ir, compress_to_fp16=False)
        session = OpenVinoSession(ov.Core().compile_model(ir, "CPU", options))
        session.run([], example)
        drop_mapped_files(Path(scratch))
    return session


def read_model(path: Path) -> ov.Model:
    """The ONNX graph as OpenVINO's CPU plugin runs it, its segment pools rewritten (above)."""
    return _pools_padded(ov.Core().read_model(path))


def _pools_padded(model: ov.Model) -> ov.Model:
    """Each unpadded ceil-mode pool over whole segments (stride = kernel) as a floor-mode one whose end is
    padded by `kernel - 1`, pads excluded from the average: the same outputs, no shape check to fail."""
    for op in model.get_ops():
        if op.get_type_name() != "AvgPool":
            continue
        fact = op.get_attributes()
        kernel = list(fact["kernel"])
        unpadded = (
            fact["auto_pad"] in ("explicit", "notset")
            and not any(fact["pads_begin"])
            and not any(fact["pads_end"])
        )
        segments = unpadded and list(fact["strides"]) == kernel
        if fact["rounding_type"] not in ("ceil", "ceil_torch") or not segments:
            continue
        padded = opset14.avg_pool(
            op.input_value(0),
            strides=kernel,
            pads_begin=[0] * len(kernel),
            pads_end=[size - 1 for size in kernel],
            kernel_shape=kernel,
            exclude_pad=True,
            rounding_type="floor",
        )
        padded.set_friendly_name(op.get_friendly_name())
        op.output(0).replace(padded.output(0))
    return model
