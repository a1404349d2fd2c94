"""A live session's input bytes to 16 kHz float32: PCM16 at any common rate, G.711 μ-law and A-law.

Audio arrives in small pieces, so resampling keeps its filter state between them (a polyphase FIR
run by `scipy.signal.upfirdn` would restart at every piece and click at the seams).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np
import numpy.typing as npt

from gigaam_api.audio.rate import SAMPLE_RATE
from gigaam_api.live.events import InputFormat

Audio = npt.NDArray[np.float32]

G711_RATE = 8_000
_TAPS_PER_PHASE = 16  # the low-pass filter's length per polyphase branch: ~-60 dB stop band


def _mulaw_table() -> Audio:
    """ITU-T G.711 μ-law: byte -> linear sample in [-1, 1)."""
    u = ~np.arange(256, dtype=np.uint8)
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    magnitude = ((mantissa.astype(np.int32) << 3) + 0x84) << exponent
    linear = np.where(u & 0x80, 0x84 - magnitude, magnitude - 0x84)
    return (linear / 32768.0).astype(np.float32)


def _alaw_table() -> Audio:
    """ITU-T G.711 A-law: byte -> linear sample in [-1, 1)."""
    a = np.arange(256, dtype=np.uint8) ^ 0x55
    exponent = (a >> 4) & 0x07
    mantissa = (a & 0x0F).astype(np.int32)
    magnitude = np.where(
        exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0)
    )
    linear = np.where(a & 0x80, magnitude, -magnitude)
    return (linear / 32768.0).astype(np.float32)


_G711 = {"pcmu": _mulaw_table(), "pcma": _alaw_table()}


def scipy_signal() -> Any:  # the module; SciPy has no types
    """`scipy.signal`, imported here rather than at the top: it takes a second or more to import, the
    server's start (the pipeline imports this module) waited for it, and only rates other than 16 kHz
    need it. `pipeline.assembly` calls this off the event loop once the engine is loaded."""
    from scipy import signal

    return signal


class StreamResampler:
    """`rate` -> 16 kHz, piece by piece, with the same output as resampling the whole stream at once
    (up by L, low-pass, down by M; the filter's state and the decimation phase carry over)."""

    def __init__(self, rate: int) -> None:
        ratio = Fraction(SAMPLE_RATE, rate)
        self._up, self._down = ratio.numerator, ratio.denominator
        self._identity = rate == SAMPLE_RATE
        if self._identity:
            return
        signal = scipy_signal()
        self._lfilter = signal.lfilter
        factor = max(self._up, self._down)
        self._taps = (signal.firwin(_TAPS_PER_PHASE * factor + 1, 1.0 / factor) * self._up).astype(np.float64)
        self._state = np.zeros(len(self._taps) - 1)
        self._phase = 0  # index, in the upsampled stream, of the next sample to keep

    def __call__(self, samples: Audio) -> Audio:
        if self._identity or len(samples) == 0:
            return samples
        upsampled = np.zeros(len(samples) * self._up)
        upsampled[:: self._up] = samples
        filtered, self._state = self._lfilter(self._taps, 1.0, upsampled, zi=self._state)
        kept: Audio = filtered[self._phase :: self._down]
        self._phase = (self._phase - len(upsampled)) % self._down
        return kept.astype(np.float32)


class InputDecoder:
    """Bytes of one format and rate -> 16 kHz float32; a PCM16 sample split across two pieces is kept."""

    def __init__(self, fmt: InputFormat, rate: int) -> None:
        self._format = fmt
        self._resample = StreamResampler(G711_RATE if fmt != "pcm16" else rate)
        self._odd = b""

    def __call__(self, data: bytes) -> Audio:
        if self._format == "pcm16":
            data, self._odd = self._odd + data, b""
            if len(data) % 2:
                data, self._odd = data[:-1], data[-1:]
            samples = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
        else:
            samples = _G711[self._format][np.frombuffer(data, dtype=np.uint8)]
        return self._resample(samples)
