"""The speaker model as an OpenVINO compiled model on the CPU, behind `InferenceSession.run`'s signature.

No compiled-blob cache: the model is a few tens of MB and compiles in about a second, on the first
diarized request only. The CPU plugin's kernel caches get the shared bounds (engines/openvino_cpu.py):
windows come in several lengths (a speech region's last window is shorter), each a new input shape.
"""

from __future__ import annotations

from pathlib import Path

import openvino as ov

from gigaam_api.cpus import StreamPlan
from gigaam_api.engines.openvino_cpu import RUNTIME_CACHE_CAPACITY, OpenVinoSession, bound_primitive_cache
from gigaam_api.speakers.runtime import SpeakerRuntimeChoice

_INFERENCE_PRECISION = {"fp32": "f32", "bf16": "bf16"}


def compile_model(model: Path, choice: SpeakerRuntimeChoice, plan: StreamPlan) -> OpenVinoSession:
    """One CPU stream per inference stream, each on that stream's threads, as the ASR model's."""
    bound_primitive_cache()
    options: dict[str, str | int] = {
        "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_PRECISION_HINT": _INFERENCE_PRECISION[choice.precision],
        "INFERENCE_NUM_THREADS": plan.streams * plan.threads,
        "CPU_RUNTIME_CACHE_CAPACITY": RUNTIME_CACHE_CAPACITY,
    }
    if plan.streams > 1:
        options["NUM_STREAMS"] = plan.streams
    return OpenVinoSession(ov.Core().compile_model(str(model), "CPU", options))
