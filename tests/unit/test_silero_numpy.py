"""The numpy Silero network against a plain frame-by-frame reference, and its ONNX weight reader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnx
import pytest
from onnx import TensorProto, helper

from gigaam_api.vad.silero_numpy import (
    _SHAPES,
    CONTEXT_SAMPLES,
    FRAME_SAMPLES,
    HIDDEN,
    SileroNumpy,
    SileroWeightsError,
    load_weights,
    onnx_constants,
)

Array = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]


def random_weights(seed: int) -> dict[str, Array]:
    rng = np.random.default_rng(seed)
    weights = {}
    for name, shape in _SHAPES.items():
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        weights[name] = (rng.normal(0, 1.5 / np.sqrt(fan_in), shape)).astype(np.float32)
    weights["stft.forward_basis_buffer"] = windowed_dft()
    return weights


def windowed_dft() -> Array:
    """Silero's STFT basis: a periodic Hann window times the DFT, cosines then minus sines, [258, 1, 256]."""
    t = np.arange(256)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * t / 256)
    angle = 2 * np.pi * np.arange(129)[:, None] * t[None, :] / 256
    basis = np.concatenate([window * np.cos(angle), -window * np.sin(angle)])
    return basis[:, None, :].astype(np.float32)


def conv1d(x: F64, w: F64, b: F64 | None, stride: int, pad: int) -> F64:
    """PyTorch's Conv1d on one item: x [in, T], w [out, in, k]."""
    x = np.pad(x, ((0, 0), (pad, pad)))
    k = w.shape[2]
    steps = (x.shape[1] - k) // stride + 1
    out = np.stack(
        [np.einsum("oik,ik->o", w, x[:, t * stride : t * stride + k]) for t in range(steps)], axis=1
    )
    return out if b is None else out + b[:, None]


def sigmoid(x: F64) -> F64:
    result: F64 = 1 / (1 + np.exp(-x))
    return result


def reference(weights: dict[str, Array], signal: Array, frames: int) -> F64:
    """The ONNX graph's 16 kHz branch, one 576-sample input at a time, in float64."""
    w = {name: value.astype(np.float64) for name, value in weights.items()}
    h = np.zeros(HIDDEN)
    c = np.zeros(HIDDEN)
    probabilities = []
    for i in range(frames):
        x = signal[i * FRAME_SAMPLES : i * FRAME_SAMPLES + FRAME_SAMPLES + CONTEXT_SAMPLES].astype(np.float64)
        x = np.pad(x, (0, 64), mode="reflect")
        spectrum = conv1d(x[None, :], w["stft.forward_basis_buffer"], None, stride=128, pad=0)
        y = np.sqrt(spectrum[:129] ** 2 + spectrum[129:] ** 2)
        for layer, stride in enumerate((1, 2, 2, 1)):
            prefix = f"encoder.{layer}.reparam_conv."
            y = np.maximum(conv1d(y, w[prefix + "weight"], w[prefix + "bias"], stride=stride, pad=1), 0)
        assert y.shape == (HIDDEN, 1)
        gates = w["decoder.rnn.weight_ih"] @ y[:, 0] + w["decoder.rnn.bias_ih"]
        gates += w["decoder.rnn.weight_hh"] @ h + w["decoder.rnn.bias_hh"]
        i_, f_, g_, o_ = np.split(gates, 4)
        c = sigmoid(f_) * c + sigmoid(i_) * np.tanh(g_)
        h = sigmoid(o_) * np.tanh(c)
        logit = w["decoder.decoder.2.weight"][0, :, 0] @ np.maximum(h, 0) + w["decoder.decoder.2.bias"][0]
        probabilities.append(sigmoid(logit))
    return np.array(probabilities)


@pytest.fixture(scope="module")
def weights() -> dict[str, Array]:
    return random_weights(0)


def test_matches_the_plain_reference(weights: dict[str, Array]) -> None:
    frames = 300  # more than two of the front-end's blocks, and not a multiple of one
    signal = (
        np.random.default_rng(1).normal(0, 0.3, frames * FRAME_SAMPLES + CONTEXT_SAMPLES).astype(np.float32)
    )
    net = SileroNumpy(weights)
    fast = net.lstm(net.gate_inputs(signal, frames), np.arange(frames)[None, :])[0]
    expected = reference(weights, signal, frames)
    assert fast.dtype == np.float32 and fast.shape == (frames,)
    assert 0.05 < expected.mean() < 0.95  # the random weights do not saturate the output
    np.testing.assert_allclose(fast, expected, atol=1e-4)


def test_sequences_in_a_batch_are_independent(weights: dict[str, Array]) -> None:
    frames = 40
    signal = (
        np.random.default_rng(2).normal(0, 0.3, frames * FRAME_SAMPLES + CONTEXT_SAMPLES).astype(np.float32)
    )
    net = SileroNumpy(weights)
    gates = net.gate_inputs(signal, frames)
    index = np.array([np.arange(0, 25), np.arange(15, 40), np.minimum(np.arange(30, 55), frames - 1)])
    batched = net.lstm(gates, index)
    for row, frames_of_row in zip(batched, index, strict=True):
        np.testing.assert_allclose(row, net.lstm(gates, frames_of_row[None, :])[0], atol=1e-6)


def test_a_basis_that_is_not_a_windowed_dft_is_refused(weights: dict[str, Array]) -> None:
    """The FFT stands in for the basis product only where it computes the same thing."""
    changed = dict(weights)
    basis = weights["stft.forward_basis_buffer"].copy()
    basis[5] *= 1.01  # one frequency's row off by 1 %: no longer the window times the DFT
    changed["stft.forward_basis_buffer"] = basis
    with pytest.raises(SileroWeightsError, match="windowed DFT"):
        SileroNumpy(changed)


def test_signal_must_cover_the_frames(weights: dict[str, Array]) -> None:
    with pytest.raises(ValueError, match="shorter"):
        SileroNumpy(weights).gate_inputs(np.zeros(10 * FRAME_SAMPLES, dtype=np.float32), 10)


def write_model(path: Path, weights: dict[str, Array], *, raw: bool) -> None:
    """A model shaped like silero_vad.onnx: the weights as Constant nodes inside an If's then-branch."""

    def constant(name: str, value: Array) -> onnx.NodeProto:
        tensor = helper.make_tensor(
            name, TensorProto.FLOAT, value.shape, value.tobytes() if raw else value.ravel().tolist(), raw=raw
        )
        return helper.make_node("Constant", [], [name], value=tensor)

    prefix = "If_0_then_branch__Inline_0__"
    then_nodes = [constant(prefix + name, value) for name, value in weights.items()]
    then_nodes.append(helper.make_node("Identity", ["x"], ["then_out"]))
    # The 8 kHz branch has a smaller STFT basis under the same name: it must not be picked.
    small = np.ones((130, 1, 128), dtype=np.float32)
    else_nodes = [constant("If_0_else_branch__Inline_0__stft.forward_basis_buffer", small)]
    else_nodes.append(helper.make_node("Identity", ["x"], ["else_out"]))
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    then_graph = helper.make_graph(
        then_nodes, "then", [], [helper.make_tensor_value_info("then_out", 1, None)]
    )
    else_graph = helper.make_graph(
        else_nodes, "else", [], [helper.make_tensor_value_info("else_out", 1, None)]
    )
    graph = helper.make_graph(
        [helper.make_node("If", ["cond"], ["y"], then_branch=then_graph, else_branch=else_graph)],
        "g",
        [
            helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [1]),
        ],
        [out],
        initializer=[helper.make_tensor("extra", TensorProto.FLOAT, [2], [1.0, 2.0])],
    )
    onnx.save(helper.make_model(graph), str(path))


@pytest.mark.parametrize("raw", [True, False])
def test_reads_the_weights_from_an_onnx_if_branch(
    tmp_path: Path, weights: dict[str, Array], raw: bool
) -> None:
    path = tmp_path / "model.onnx"
    write_model(path, weights, raw=raw)
    loaded = load_weights(path)
    assert loaded.keys() == weights.keys()
    for name, value in weights.items():
        np.testing.assert_array_equal(loaded[name], value)
    np.testing.assert_array_equal(onnx_constants(path)["extra"], [1.0, 2.0])


def test_missing_weights_are_an_error(tmp_path: Path, weights: dict[str, Array]) -> None:
    path = tmp_path / "model.onnx"
    write_model(path, {k: v for k, v in weights.items() if k != "decoder.rnn.weight_hh"}, raw=True)
    with pytest.raises(SileroWeightsError):
        load_weights(path)
