"""GigaAM on ONNX Runtime (CPU or CUDA provider), through onnx-asr's loader, preprocessor and decoders."""

from __future__ import annotations

from pathlib import Path

import onnx_asr
import onnxruntime as ort
from onnx_asr.adapters import TimestampedResultsAsrAdapter

from gigaam_api.engines.base import RuntimeSelectionError
from gigaam_api.engines.gigaam.runtime import CPU_PROVIDER, CUDA_PROVIDER, RuntimeChoice


def session_options(num_threads: int) -> ort.SessionOptions:
    """Explicit thread counts: ONNX Runtime's default grabs every core, which fights the scheduler."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = num_threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return options


def providers(choice: RuntimeChoice) -> list[str]:
    # On CUDA, the CPU provider still runs the few nodes CUDA has no kernel for.
    return [CUDA_PROVIDER, CPU_PROVIDER] if choice.device == "cuda" else [CPU_PROVIDER]


def load_onnxruntime(
    model_dir: Path, model: str, choice: RuntimeChoice, num_threads: int
) -> TimestampedResultsAsrAdapter:
    asr = onnx_asr.load_model(
        model,
        model_dir,
        quantization=choice.onnx_quantization,
        providers=providers(choice),
        sess_options=session_options(num_threads),
        preprocessor_config={"max_concurrent_workers": 1},
    ).with_timestamps()
    if choice.device == "cuda":
        _check_on_cuda(asr)
    return asr


def _check_on_cuda(asr: TimestampedResultsAsrAdapter) -> None:
    """ONNX Runtime falls back to the CPU when CUDA fails to start (driver, libraries): refuse that."""
    # onnx-asr keeps the acoustic model's session as `_model` (CTC) or `_encoder` (RNN-T).
    session = getattr(asr.asr, "_model", None) or getattr(asr.asr, "_encoder", None)
    active = session.get_providers() if session is not None else []
    if not active or active[0] != CUDA_PROVIDER:
        raise RuntimeSelectionError(
            "GIGAAM_DEVICE=cuda, but ONNX Runtime could not start its CUDA provider (see the log above for "
            "the driver or CUDA/cuDNN library it is missing); set GIGAAM_DEVICE=auto/cpu to run on the CPU."
        )
