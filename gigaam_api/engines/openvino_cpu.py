"""What every model run on OpenVINO's CPU plugin shares: a compiled model behind
`onnxruntime.InferenceSession.run`'s signature (so onnx-asr's code drives it) and the bounds on the
plugin's kernel caches."""

from __future__ import annotations

import os
import queue
from collections.abc import Mapping, Sequence
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import openvino as ov

# The CPU plugin and its oneDNN keep compiled kernels (with their scratch buffers) for every input shape
# they have run, and the service's chunks come in every length: unbounded, that was ~16 MB per new length,
# 0.45 GB after the 10-minute file. These bounds still hold every kernel one inference reuses across the
# encoder's identical layers (measured: no slower on a new length than the defaults, 5000 and 1024).
RUNTIME_CACHE_CAPACITY: Final = 50
PRIMITIVE_CACHE_CAPACITY: Final = "100"


class OpenVinoSession:
    """An OpenVINO compiled model behind `onnxruntime.InferenceSession.run`'s signature, safe on several
    threads at once as ORT's is: an infer request holds one inference's tensors, so each concurrent call
    takes its own from a pool (as many as calls ever ran at once: one per inference stream)."""

    def __init__(self, compiled: ov.CompiledModel) -> None:
        self._compiled = compiled
        self._requests: queue.SimpleQueue[ov.InferRequest] = queue.SimpleQueue()
        self._requests.put(compiled.create_infer_request())
        self._dtypes = {
            name: port.get_element_type().to_dtype() for port in compiled.inputs for name in port.names
        }
        self._outputs = {name: port for port in compiled.outputs for name in port.names}

    def run(self, output_names: Sequence[str], feeds: Mapping[str, Any]) -> list[npt.NDArray[Any]]:
        # onnx-asr feeds the RNN-T decoder a nested list; OpenVINO wants arrays of the port's type.
        inputs = {name: np.asarray(value, dtype=self._dtypes[name]) for name, value in feeds.items()}
        try:
            request = self._requests.get_nowait()
        except queue.Empty:
            request = self._compiled.create_infer_request()
        try:
            results = request.infer(inputs)  # copies the outputs: the decoder keeps them across steps
        finally:
            self._requests.put(request)
        return [results[self._outputs[name]] for name in output_names]


def bound_primitive_cache() -> None:
    """Cap oneDNN's primitive cache (see PRIMITIVE_CACHE_CAPACITY): it reads only this environment
    variable, once, when the CPU plugin first compiles; an operator's own value stays."""
    os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", PRIMITIVE_CACHE_CAPACITY)
