"""GigaAM on OpenVINO, with onnx-asr's own preprocessing and CTC / RNN-T decoding.

onnx-asr's GigaAM classes create `onnxruntime.InferenceSession`s in `__init__` and afterwards only call
`session.run(output_names, feeds)`. The subclasses here skip that constructor and put an OpenVINO
compiled model behind the same `run`, so features, decoding, timestamps and log-probs are onnx-asr's code.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import numpy as np
import openvino as ov
from onnx_asr.adapters import TextResultsAsrAdapter, TimestampedResultsAsrAdapter
from onnx_asr.asr import Preprocessor
from onnx_asr.models.gigaam import GigaamV2Ctc, GigaamV2Rnnt
from onnx_asr.onnx import OnnxSessionOptions
from onnx_asr.preprocessors.numpy_preprocessor import GigaamPreprocessorNumpy
from onnx_asr.preprocessors.resampler import Resampler

from gigaam_api.audio.rate import SAMPLE_RATE
from gigaam_api.cpus import StreamPlan
from gigaam_api.engines.gigaam.runtime import RuntimeChoice
from gigaam_api.engines.openvino_cpu import RUNTIME_CACHE_CAPACITY, OpenVinoSession, bound_primitive_cache
from gigaam_api.engines.resident import drop_mapped_files, fix_mmap_threshold

CACHE_DIR: Final = "openvino-cache"  # beside the weights; compiled blobs keyed by model and config
# Audio on both sides of the CPU plugin's switch between its short- and long-input kernels (measured
# between 5 and 8 s), the long one first: the start-up peak is then the long kernel's alone.
WARM_UP_SECONDS: Final = (20.0, 1.0)
_OPENVINO_DEVICE: Final = {"cpu": "CPU", "gpu": "GPU"}
# No ONNX Runtime session is built for the model; the resampler (8 kHz input only) still uses ORT's CPU.
_CPU_ONLY: Final[OnnxSessionOptions] = {"providers": ["CPUExecutionProvider"]}


def compile_options(choice: RuntimeChoice, plan: StreamPlan) -> dict[str, Any]:
    """OpenVINO properties for one compiled model: latency over throughput, the precision hint, threads.

    On the CPU the scheduler runs `plan.streams` batches at once and these threads own the cores: one CPU
    stream per batch (explicit streams and threads override the hint), each on `plan.threads` threads.
    The streams share the compiled weights; each call takes its own infer request (`OpenVinoSession`)."""
    options: dict[str, Any] = {
        "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_PRECISION_HINT": choice.inference_precision,
    }
    if choice.device == "cpu":
        options["INFERENCE_NUM_THREADS"] = plan.streams * plan.threads
        options["CPU_RUNTIME_CACHE_CAPACITY"] = RUNTIME_CACHE_CAPACITY
        if plan.streams > 1:  # one stream stays the latency hint's own choice, as before streams existed
            options["NUM_STREAMS"] = plan.streams
    return options


Compile = Callable[[Path], OpenVinoSession]


def compiler(choice: RuntimeChoice, plan: StreamPlan, cache_dir: Path) -> Compile:
    """A function that compiles one model file (ONNX or IR) for the chosen device, through the cache."""
    core = ov.Core()
    core.set_property({"CACHE_DIR": str(cache_dir)})  # a restart loads the compiled blob
    device = _OPENVINO_DEVICE[choice.device]
    options = compile_options(choice, plan)

    def compile_file(path: Path) -> OpenVinoSession:
        # A path (not a read model) lets OpenVINO skip reading and compiling when the cache has it.
        return OpenVinoSession(core.compile_model(str(path), device, options))

    return compile_file


class OpenVinoGigaamCtc(GigaamV2Ctc):
    """onnx-asr's GigaAM CTC (v2, v3, v3 E2E) with the acoustic model on OpenVINO."""

    def __init__(
        self,
        model_files: dict[str, Path],
        preprocessor_factory: Callable[[str], Preprocessor],
        compile_file: Compile,
    ) -> None:
        super(GigaamV2Ctc, self).__init__(model_files, preprocessor_factory, {})
        self._model = compile_file(model_files["model"])


class OpenVinoGigaamRnnt(GigaamV2Rnnt):
    """onnx-asr's GigaAM RNN-T (v2, v3, v3 E2E) with encoder, decoder and joint on OpenVINO."""

    def __init__(
        self,
        model_files: dict[str, Path],
        preprocessor_factory: Callable[[str], Preprocessor],
        compile_file: Compile,
    ) -> None:
        super(GigaamV2Rnnt, self).__init__(model_files, preprocessor_factory, {})
        self._encoder = compile_file(model_files["encoder"])
        self._decoder = compile_file(model_files["decoder"])
        self._joiner = compile_file(model_files["joint"])


def load_openvino(
    model_files: dict[str, Path], choice: RuntimeChoice, plan: StreamPlan, cache_dir: Path
) -> TimestampedResultsAsrAdapter:
    """The timestamped recogniser, safe on `plan.streams` threads at once. `model_files` uses onnx-asr's
    keys: config, vocab, and model (CTC) or encoder/decoder/joint (RNN-T), each an ONNX file or an
    OpenVINO IR `.xml`."""
    fix_mmap_threshold()
    bound_primitive_cache()
    compile_file = compiler(choice, plan, cache_dir)
    asr: GigaamV2Ctc | GigaamV2Rnnt
    if "model" in model_files:
        asr = OpenVinoGigaamCtc(model_files, GigaamPreprocessorNumpy, compile_file)
    else:
        asr = OpenVinoGigaamRnnt(model_files, GigaamPreprocessorNumpy, compile_file)
    recognizer = TextResultsAsrAdapter(asr, Resampler(asr._get_sample_rate(), _CPU_ONLY)).with_timestamps()
    # The CPU plugin packs the weights on the first inference of each of its kernels (see `resident`):
    # here, not on a request, once per kernel, and each time followed by dropping the mapped model files.
    for seconds in WARM_UP_SECONDS:
        recognizer.recognize([np.zeros(int(seconds * SAMPLE_RATE), np.float32)], sample_rate=SAMPLE_RATE)
        for directory in {cache_dir, *(path.parent for path in model_files.values())}:
            drop_mapped_files(directory)
    return recognizer
