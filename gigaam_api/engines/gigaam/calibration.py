"""The calibration set of the static int8 IR: shipped speech, cut into chunks, as GigaAM's input features.

`calibration.ogg` (written by `python -m scripts.calibration_audio`, espeak-ng Russian speech) is in
the package, so a build needs neither the network nor espeak-ng. NNCF takes activation ranges from
these chunks, and the fidelity gate compares the quantized model with fp32 on the same chunks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import av
import numpy as np
import numpy.typing as npt

from gigaam_api.audio.rate import SAMPLE_RATE

CALIBRATION_FILE: Final = Path(__file__).with_name("calibration.ogg")
CHUNKS: Final = 12
CHUNK_SECONDS: Final = 20  # the length of the service's long-audio chunks

Feeds = dict[str, npt.NDArray[Any]]


def calibration_audio(path: Path = CALIBRATION_FILE) -> npt.NDArray[np.float32]:
    """The whole recording as 16 kHz mono float32."""
    resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
    blocks: list[npt.NDArray[Any]] = []
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            blocks += [r.to_ndarray().reshape(-1) for r in resampler.resample(frame)]
    blocks += [r.to_ndarray().reshape(-1) for r in resampler.resample(None)]
    return np.concatenate(blocks).astype(np.float32)


def calibration_feeds(version: str, path: Path = CALIBRATION_FILE) -> list[Feeds]:
    """One model input (`features`, `feature_lengths`) per 20-s chunk, for GigaAM `version` (v2, v3)."""
    from onnx_asr.preprocessors.numpy_preprocessor import GigaamPreprocessorNumpy

    preprocess = GigaamPreprocessorNumpy(f"gigaam_{version}")
    audio = calibration_audio(path)
    step = CHUNK_SECONDS * SAMPLE_RATE
    feeds: list[Feeds] = []
    for start in range(0, len(audio) - step + 1, step):
        chunk = audio[None, start : start + step]
        features, lengths = preprocess(chunk, np.array([step], np.int64))
        feeds.append({"features": features, "feature_lengths": lengths})
    return feeds
