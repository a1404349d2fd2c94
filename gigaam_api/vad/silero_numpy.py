"""Silero VAD's 16 kHz network in numpy: the stateless front-end for all frames at once, then the LSTM.

The ONNX model (silero_vad.onnx, the `sr == 16000` branch) per 576-sample input (64 context + 512):
reflect-pad 64 samples on the right, STFT as a Conv1d (258 x 256 basis, stride 128: 4 windows), magnitude
of 129 bins, four Conv1d(kernel 3, padding 1) + ReLU layers with strides 1, 2, 2, 1 (4 -> 4 -> 2 -> 1
time steps), an LSTM cell (128 hidden: the only state), ReLU, a 1x1 Conv1d and a sigmoid.

Everything before the LSTM depends on the frame alone, so it runs for all frames as one FFT (the basis is
a Hann-windowed DFT, checked at load) and a few large matrix products; only the LSTM cell runs step by
step, batched over independent sequences. The weights are read from the ONNX file with a small protobuf
reader, so the `onnx` package is not needed at run time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

FRAME_SAMPLES = 512
CONTEXT_SAMPLES = 64
INPUT_SAMPLES = FRAME_SAMPLES + CONTEXT_SAMPLES
HIDDEN = 128
_WINDOW = 256
_HOP = 128
_BINS = 129
_REFLECT = 64  # right reflect padding of the 576-sample input before the STFT
_BLOCK_FRAMES = 128  # front-end frames per batch of matrix products: keeps the temporaries in L2 cache

Array = npt.NDArray[np.float32]

# Names (suffixes) of the 16 kHz branch's constants in silero_vad.onnx and their shapes.
_SHAPES: dict[str, tuple[int, ...]] = {
    "stft.forward_basis_buffer": (2 * _BINS, 1, _WINDOW),
    "encoder.0.reparam_conv.weight": (128, _BINS, 3),
    "encoder.0.reparam_conv.bias": (128,),
    "encoder.1.reparam_conv.weight": (64, 128, 3),
    "encoder.1.reparam_conv.bias": (64,),
    "encoder.2.reparam_conv.weight": (64, 64, 3),
    "encoder.2.reparam_conv.bias": (64,),
    "encoder.3.reparam_conv.weight": (HIDDEN, 64, 3),
    "encoder.3.reparam_conv.bias": (HIDDEN,),
    "decoder.rnn.weight_ih": (4 * HIDDEN, HIDDEN),
    "decoder.rnn.weight_hh": (4 * HIDDEN, HIDDEN),
    "decoder.rnn.bias_ih": (4 * HIDDEN,),
    "decoder.rnn.bias_hh": (4 * HIDDEN,),
    "decoder.decoder.2.weight": (1, HIDDEN, 1),
    "decoder.decoder.2.bias": (1,),
}


class SileroWeightsError(ValueError):
    """The ONNX file does not hold the Silero 16 kHz weights this module implements."""


# --- a minimal reader of the protobuf wire format, for the few ONNX messages needed ---


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def _fields(buf: bytes, start: int = 0, end: int | None = None) -> Iterator[tuple[int, int, int, int]]:
    """(field number, wire type, value or start, end) of each field of the message in buf[start:end].

    For length-delimited fields (wire type 2) the value is the payload's start; otherwise it is the value
    and `end` repeats the position after it.
    """
    pos, stop = start, len(buf) if end is None else end
    while pos < stop:
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
            yield number, wire, value, pos
        elif wire == 1:
            yield number, wire, pos, pos + 8
            pos += 8
        elif wire == 2:
            length, pos = _varint(buf, pos)
            yield number, wire, pos, pos + length
            pos += length
        elif wire == 5:
            yield number, wire, pos, pos + 4
            pos += 4
        else:
            raise SileroWeightsError(f"unsupported protobuf wire type {wire}")


def _tensor(buf: bytes, start: int, end: int) -> tuple[str, Array] | None:
    """A float32 TensorProto stored inline (raw_data or float_data); None for other tensors."""
    name, dims, data_type, raw, floats = "", [], 0, b"", []
    for number, wire, a, b in _fields(buf, start, end):
        if number == 1:  # dims: int64, packed or not
            if wire == 2:
                pos = a
                while pos < b:
                    dim, pos = _varint(buf, pos)
                    dims.append(dim)
            else:
                dims.append(a)
        elif number == 2:
            data_type = a
        elif number == 4 and wire == 2:  # float_data, packed
            floats.append(np.frombuffer(buf[a:b], dtype="<f4"))
        elif number == 8:
            name = buf[a:b].decode()
        elif number == 9:
            raw = buf[a:b]
    if data_type != 1:  # FLOAT
        return None
    data = np.frombuffer(raw, dtype="<f4") if raw else np.concatenate(floats or [np.zeros(0, "<f4")])
    if data.size != int(np.prod(dims)):
        return None
    return name, data.astype(np.float32).reshape(dims)


def _graph_constants(buf: bytes, start: int, end: int, out: dict[str, Array]) -> None:
    """Initializers and Constant node values of a GraphProto and all its subgraphs, by output name."""
    for number, _, a, b in _fields(buf, start, end):
        if number == 5:  # initializer
            tensor = _tensor(buf, a, b)
            if tensor is not None:
                out[tensor[0]] = tensor[1]
        elif number == 1:  # node
            _node_constants(buf, a, b, out)


def _node_constants(buf: bytes, start: int, end: int, out: dict[str, Array]) -> None:
    """A Constant node's value, and the constants of a node's subgraphs (If branches, loop bodies)."""
    outputs: list[str] = []
    op_type = ""
    attributes: list[tuple[int, int]] = []
    for number, _, a, b in _fields(buf, start, end):
        if number == 2:
            outputs.append(buf[a:b].decode())
        elif number == 4:
            op_type = buf[a:b].decode()
        elif number == 5:
            attributes.append((a, b))
    for a, b in attributes:
        for number, _, c, d in _fields(buf, a, b):
            if number == 5 and op_type == "Constant" and outputs:  # AttributeProto.t: the value
                tensor = _tensor(buf, c, d)
                if tensor is not None:
                    out[outputs[0]] = tensor[1]
            elif number in (6, 11):  # AttributeProto.g, .graphs
                _graph_constants(buf, c, d, out)


def onnx_constants(path: Path) -> dict[str, Array]:
    """Every float32 constant of an ONNX model (initializers and Constant nodes, subgraphs included)."""
    buf = path.read_bytes()
    out: dict[str, Array] = {}
    try:
        for number, _, a, b in _fields(buf):
            if number == 7:  # ModelProto.graph
                _graph_constants(buf, a, b, out)
    except (IndexError, UnicodeDecodeError) as exc:
        raise SileroWeightsError(f"{path} is not a readable ONNX model") from exc
    return out


def load_weights(path: Path) -> dict[str, Array]:
    """The 16 kHz weights of silero_vad.onnx, keyed by their PyTorch names (see `_SHAPES`)."""
    constants = onnx_constants(path)
    basis = "stft.forward_basis_buffer"
    prefixes = [
        name[: -len(basis)]
        for name, value in constants.items()
        if name.endswith(basis) and value.shape == _SHAPES[basis]
    ]
    for prefix in prefixes:
        found = {key: constants.get(prefix + key) for key in _SHAPES}
        weights = {
            key: value for key, value in found.items() if value is not None and value.shape == _SHAPES[key]
        }
        if len(weights) == len(_SHAPES):
            return weights
    raise SileroWeightsError(f"{path} does not hold the Silero VAD 16 kHz weights")


# --- the network ---


@dataclass(frozen=True)
class _Matrices:
    """The weights laid out for row-major products `x @ W` (inputs as rows)."""

    window: Array  # [256]: the STFT's window (the basis is this window times the DFT)
    conv0: Array  # [129, 384]: kernel taps k = 0, 1, 2 side by side
    conv1: Array  # [384, 64]: taps stacked on the input side (im2col order: tap-major)
    conv2: Array  # [192, 64]
    conv3: Array  # [64, 128]: only the middle tap sees data (one time step, zero padding)
    bias0: Array
    bias1: Array
    bias2: Array
    bias3: Array
    gates_in: Array  # [128, 512]: input -> LSTM gates (reordered, sigmoid gates halved: see below)
    gates_bias: Array  # [512]
    gates_h: Array  # [128, 512]
    decoder: Array  # [128]
    decoder_bias: float


def _stft_window(basis: Array) -> Array:
    """The window w of a [258, 256] basis whose rows are w·cos(2πkt/256) then -w·sin(2πkt/256)."""
    k = np.arange(_BINS)[:, None]
    angle = 2 * np.pi * k * np.arange(_WINDOW)[None, :] / _WINDOW
    window: Array = basis[0]  # k = 0: the cosine is 1
    expected = np.concatenate([window * np.cos(angle), -window * np.sin(angle)])
    if not np.allclose(basis, expected, rtol=0, atol=1e-6):
        raise SileroWeightsError("the STFT basis is not a windowed DFT")
    return window


def _matrices(weights: dict[str, Array]) -> _Matrices:
    def f32(array: npt.NDArray[np.floating]) -> Array:
        return np.ascontiguousarray(array, dtype=np.float32)

    def taps(name: str) -> Array:  # [out, in, k] -> [k * in, out]
        w = weights[name]
        return f32(w.transpose(2, 1, 0).reshape(-1, w.shape[0]))

    window = _stft_window(weights["stft.forward_basis_buffer"][:, 0, :])
    w0 = weights["encoder.0.reparam_conv.weight"]
    # PyTorch's LSTMCell gate order is input, forget, cell, output: reordered to input, forget, output,
    # cell so that the three sigmoid gates are side by side. sigmoid(x) = tanh(x / 2) / 2 + 1 / 2, so their
    # columns are halved (exact in binary) and one tanh serves all four gates.
    order = np.concatenate(
        [np.arange(0, 2 * HIDDEN), np.arange(3 * HIDDEN, 4 * HIDDEN), np.arange(2 * HIDDEN, 3 * HIDDEN)]
    )
    scale = np.ones(4 * HIDDEN, dtype=np.float32)
    scale[: 3 * HIDDEN] = 0.5
    return _Matrices(
        window=f32(window),
        conv0=f32(w0.transpose(1, 2, 0).reshape(_BINS, -1)),
        conv1=taps("encoder.1.reparam_conv.weight"),
        conv2=taps("encoder.2.reparam_conv.weight"),
        conv3=f32(weights["encoder.3.reparam_conv.weight"][:, :, 1].T),
        bias0=weights["encoder.0.reparam_conv.bias"],
        bias1=weights["encoder.1.reparam_conv.bias"],
        bias2=weights["encoder.2.reparam_conv.bias"],
        bias3=weights["encoder.3.reparam_conv.bias"],
        gates_in=f32(weights["decoder.rnn.weight_ih"][order].T * scale),
        gates_bias=f32((weights["decoder.rnn.bias_ih"] + weights["decoder.rnn.bias_hh"])[order] * scale),
        gates_h=f32(weights["decoder.rnn.weight_hh"][order].T * scale),
        decoder=f32(weights["decoder.decoder.2.weight"][0, :, 0]),
        decoder_bias=float(weights["decoder.decoder.2.bias"][0]),
    )


class SileroNumpy:
    """The Silero VAD 16 kHz network, split into a per-frame front-end and the recurrent LSTM."""

    def __init__(self, weights: dict[str, Array]) -> None:
        self._m = _matrices(weights)

    @classmethod
    def from_onnx(cls, path: Path) -> SileroNumpy:
        return cls(load_weights(path))

    def gate_inputs(self, signal: Array, frames: int) -> Array:
        """The LSTM input contribution [frames, 512] of frames i = signal[512 i : 512 i + 576].

        `signal` must hold at least 512 * frames + 64 samples.
        """
        if len(signal) < frames * FRAME_SAMPLES + CONTEXT_SAMPLES:
            raise ValueError("signal is shorter than its frames")
        signal = np.ascontiguousarray(signal, dtype=np.float32)
        out = np.empty((frames, 4 * HIDDEN), dtype=np.float32)
        for first in range(0, frames, _BLOCK_FRAMES):
            stop = min(first + _BLOCK_FRAMES, frames)
            self._front(
                signal[first * FRAME_SAMPLES : stop * FRAME_SAMPLES + CONTEXT_SAMPLES], out[first:stop]
            )
        return out

    def _front(self, signal: Array, out: Array) -> None:
        m = self._m
        n = len(out)
        item = signal.itemsize
        # Frame i's four STFT windows start at 512 i + 0, 128, 256 and 384 in `signal`; the last one runs
        # on into the input's reflection: input[384:576] then input[574], input[573], ..., input[511].
        windows = np.empty((n, 4, _WINDOW), dtype=np.float32)
        windows[:, :3] = np.lib.stride_tricks.as_strided(
            signal, (n, 3, _WINDOW), (FRAME_SAMPLES * item, _HOP * item, item), writeable=False
        )
        windows[:, 3, : _WINDOW - _REFLECT] = np.lib.stride_tricks.as_strided(
            signal[3 * _HOP :], (n, _WINDOW - _REFLECT), (FRAME_SAMPLES * item, item), writeable=False
        )
        windows[:, 3, _WINDOW - _REFLECT :] = np.lib.stride_tricks.as_strided(
            signal[INPUT_SAMPLES - 2 :], (n, _REFLECT), (FRAME_SAMPLES * item, -item), writeable=False
        )
        # The FFT does the basis product in a sixteenth of the operations (-15 % of the whole VAD).
        spectrum = np.fft.rfft(windows.reshape(4 * n, _WINDOW) * m.window, axis=1)
        magnitude = np.abs(spectrum).astype(np.float32, copy=False)

        # Encoder 0 (stride 1, 4 steps): one product for the three taps, then shifted sums.
        taps = (magnitude @ m.conv0).reshape(n, 4, 3, 128)
        h0 = taps[:, :, 1] + m.bias0
        h0[:, 1:] += taps[:, :-1, 0]
        h0[:, :-1] += taps[:, 1:, 2]
        np.maximum(h0, 0, out=h0)
        flat0 = h0.reshape(n, 4 * 128)
        # Encoder 1 (stride 2, 4 -> 2 steps): step 0 sees [pad, x0, x1], step 1 sees [x1, x2, x3].
        h1 = np.empty((n, 2, 64), dtype=np.float32)
        np.matmul(flat0[:, : 2 * 128], m.conv1[128:], out=h1[:, 0])
        np.matmul(flat0[:, 128:], m.conv1, out=h1[:, 1])
        h1 += m.bias1
        np.maximum(h1, 0, out=h1)
        # Encoder 2 (stride 2, 2 -> 1 step): [pad, x0, x1]; encoder 3 (1 step): [pad, x0, pad].
        h2 = h1.reshape(n, 128) @ m.conv2[64:]
        h2 += m.bias2
        np.maximum(h2, 0, out=h2)
        h3 = h2 @ m.conv3
        h3 += m.bias3
        np.maximum(h3, 0, out=h3)
        np.matmul(h3, m.gates_in, out=out)
        out += m.gates_bias

    def lstm(self, gate_inputs: Array, index: npt.NDArray[np.intp]) -> Array:
        """Speech probabilities [batch, steps] of `batch` sequences run side by side, one step at a time.

        Row b of `index` [batch, steps] numbers the frames of sequence b: rows of `gate_inputs`
        [frames, 512] (from `gate_inputs`). Every sequence starts from the zero state.
        """
        m = self._m
        batch, steps = index.shape
        order = np.ascontiguousarray(index.T)
        c = np.zeros((batch, HIDDEN), dtype=np.float32)
        # hidden[step] is h after the step; the one before the first step is zero.
        hidden = np.empty((steps + 1, batch, HIDDEN), dtype=np.float32)
        hidden[0] = 0
        z = np.empty((batch, 4 * HIDDEN), dtype=np.float32)
        x = np.empty((batch, 4 * HIDDEN), dtype=np.float32)
        t = np.empty((batch, HIDDEN), dtype=np.float32)
        sigmoids = z[:, : 3 * HIDDEN]
        i, f, o, g = (z[:, k * HIDDEN : (k + 1) * HIDDEN] for k in range(4))
        for step in range(steps):
            np.matmul(hidden[step], m.gates_h, out=z)
            np.take(gate_inputs, order[step], axis=0, out=x)
            z += x
            np.tanh(z, out=z)
            sigmoids *= 0.5  # the sigmoid gates' inputs were halved: sigmoid(x) = tanh(x / 2) / 2 + 1 / 2
            sigmoids += 0.5
            c *= f  # c = f c + i g
            i *= g
            c += i
            np.tanh(c, out=t)
            np.multiply(o, t, out=hidden[step + 1])  # h = o tanh(c)
        hidden = hidden[1:]
        np.maximum(hidden, 0, out=hidden)
        logits = hidden @ m.decoder
        logits += m.decoder_bias
        probabilities = 1 / (1 + np.exp(-logits))
        return np.ascontiguousarray(probabilities.T, dtype=np.float32)
