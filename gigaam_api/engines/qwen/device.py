"""Where Qwen3-ASR runs and in which precision: a pure choice from QWEN_DEVICE and what torch sees."""

from __future__ import annotations

import importlib.metadata
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from gigaam_api.engines.base import RuntimeSelectionError

INSTALL_HINT = (
    "install the `qwen` extra and a torch build beside it: `uv sync --extra qwen --inexact` (or "
    "`pip install 'gigaam-api[qwen]'`), then `pip install torch --index-url "
    "https://download.pytorch.org/whl/cpu` (CPU) or the CUDA build for your driver "
    "(see docs/models-and-runtimes.md)."
)


@dataclass(frozen=True, slots=True)
class QwenDevice:
    device: str  # "cpu" or "cuda"
    precision: str  # "fp32" on the CPU, "bf16" on a GPU
    reason: str


def choose_device(setting: str, *, cuda_available: bool) -> QwenDevice:
    """QWEN_DEVICE=auto takes a CUDA GPU when torch sees one; asking for cuda without one is an error."""
    if setting == "cuda" and not cuda_available:
        raise RuntimeSelectionError(
            "QWEN_DEVICE=cuda but torch sees no CUDA GPU (a CPU build of torch, or no NVIDIA driver); "
            "install torch's CUDA build or set QWEN_DEVICE=cpu."
        )
    if setting == "cuda" or (setting == "auto" and cuda_available):
        return QwenDevice("cuda", "bf16", f"QWEN_DEVICE={setting}: torch sees a CUDA GPU")
    why = "QWEN_DEVICE=cpu" if setting == "cpu" else "QWEN_DEVICE=auto: torch sees no CUDA GPU"
    return QwenDevice("cpu", "fp32", why)


def require_packages() -> None:
    """qwen-asr and torch are optional: say how to get them rather than failing on an import."""
    missing = [name for name in ("qwen_asr", "torch") if importlib.util.find_spec(name) is None]
    if missing:
        raise RuntimeSelectionError(f"Qwen3-ASR needs {' and '.join(missing)}: {INSTALL_HINT}")


def cuda_possible(torch_version: str, nvidia_dir: Path = Path("/proc/driver/nvidia/gpus")) -> bool:
    """Whether torch can use a GPU here, without importing torch (slow, and memory a lazy model must not
    spend yet): an NVIDIA driver with a GPU, and a torch build that is not a `+cpu` one."""
    return "+cpu" not in torch_version and nvidia_dir.is_dir() and any(nvidia_dir.iterdir())


def probe_device(setting: str) -> QwenDevice:
    require_packages()
    return choose_device(setting, cuda_available=cuda_possible(importlib.metadata.version("torch")))


def check_loaded_device(device: QwenDevice) -> None:
    """At load time torch itself confirms what `probe_device` inferred from the machine."""
    import torch

    if device.device == "cuda" and not torch.cuda.is_available():
        raise RuntimeSelectionError(
            "torch cannot use the NVIDIA GPU (driver or CUDA build mismatch); set QWEN_DEVICE=cpu or "
            "install the torch build that matches the driver."
        )
