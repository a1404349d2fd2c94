"""A compute-equivalent GigaAM v3 CTC model with random weights, in the layout onnx-asr loads.

The real weights cannot be fetched here, but the same architecture with random weights costs exactly the
same compute, which is all a throughput benchmark needs. The graph mirrors GigaAM's encoder
(salute-developers/GigaAM, gigaam/encoder.py) op for op: conv1d striding subsampling x4, 16 Conformer
layers (d_model 768, 16 heads, rotary attention, conv module with layer norm, kernel 5) and a 1x1 conv
CTC head; the log-mel front end is onnx-asr's own preprocessor, outside the ONNX file.

    python -m bench.model [--cache DIR] [--check]
"""

import argparse
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
import onnx_asr
import onnxruntime as rt
from onnx import TensorProto, helper, numpy_helper

from bench.common import cache_dir, session_options, speech_like

MODEL_NAME = "gigaam-v3-ctc"
FP32_FILE = "v3_ctc.onnx"
INT8_FILE = "v3_ctc.int8.onnx"
STAMP_FILE = "build.json"
# Bump when the graph changes so cached builds are redone.
BUILDER_VERSION = 1
# "▁" is the word boundary; GigaAM's alphabet is а..я without ё; the CTC blank comes last.
VOCAB = ["\u2581", *(chr(c) for c in range(ord("а"), ord("я") + 1)), "<blk>"]


@dataclass(frozen=True)
class Arch:
    """GigaAM v3 encoder hyper-parameters (the public v3 config)."""

    feat_in: int = 64
    d_model: int = 768
    n_layers: int = 16
    n_heads: int = 16
    ff_expansion: int = 4
    subs_kernel: int = 5
    conv_kernel: int = 5
    vocab: int = len(VOCAB)
    # GigaAM passes pos_emb_max_len (5000) as both the RoPE base and the table length.
    rope_len: int = 5000
    seed: int = 20240521
    # Untrained deep stacks collapse to one class on every frame; shrinking the residual branches keeps
    # the output input-dependent without touching shapes or FLOPs.
    branch_gain: float = 0.15


@dataclass(frozen=True)
class Built:
    """Where the model lives and how many parameters it has."""

    path: Path
    params: int


class Graph:
    """Accumulates nodes and random initializers; every op output gets a unique name."""

    def __init__(self, seed: int) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.params = 0
        self._rng = np.random.default_rng(seed)
        self._count = 0

    def _name(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, array: npt.NDArray[Any], hint: str = "const", *, param: bool = False) -> str:
        name = self._name(hint)
        self.initializers.append(numpy_helper.from_array(array, name))
        if param:
            self.params += array.size
        return name

    def random(self, shape: tuple[int, ...], fan_in: int, gain: float, hint: str) -> str:
        # LeCun-normal keeps activations near unit variance through the stack.
        std = gain / math.sqrt(fan_in)
        return self.const(
            self._rng.standard_normal(shape, dtype=np.float32) * np.float32(std), hint, param=True
        )

    def zeros(self, size: int, hint: str) -> str:
        return self.const(np.zeros(size, np.float32), hint, param=True)

    def ones(self, size: int, hint: str) -> str:
        return self.const(np.ones(size, np.float32), hint, param=True)

    def op(self, op_type: str, *inputs: str, **attrs: Any) -> str:
        out = self._name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], name=out, **attrs))
        return out

    def ops(self, op_type: str, *inputs: str, outputs: int, **attrs: Any) -> list[str]:
        outs = [self._name(op_type.lower()) for _ in range(outputs)]
        self.nodes.append(helper.make_node(op_type, list(inputs), outs, name=outs[0], **attrs))
        return outs

    def i64(self, *values: int) -> str:
        return self.const(np.array(values, np.int64))

    def scalar(self, value: int) -> str:
        return self.const(np.array(value, np.int64))

    def f32(self, value: float) -> str:
        return self.const(np.array(value, np.float32))


def _linear(g: Graph, x: str, d_in: int, d_out: int, gain: float = 1.0) -> str:
    w = g.random((d_in, d_out), d_in, gain, "linear_w")
    return g.op("Add", g.op("MatMul", x, w), g.zeros(d_out, "linear_b"))


def _conv1d(
    g: Graph,
    x: str,
    c_in: int,
    c_out: int,
    kernel: int,
    *,
    stride: int = 1,
    groups: int = 1,
    gain: float = 1.0,
) -> str:
    fan_in = c_in // groups * kernel
    w = g.random((c_out, c_in // groups, kernel), fan_in, gain, "conv_w")
    pad = (kernel - 1) // 2
    return g.op(
        "Conv",
        x,
        w,
        g.zeros(c_out, "conv_b"),
        kernel_shape=[kernel],
        strides=[stride],
        pads=[pad, pad],
        group=groups,
    )


def _layer_norm(g: Graph, x: str, d: int) -> str:
    return g.op("LayerNormalization", x, g.ones(d, "ln_w"), g.zeros(d, "ln_b"), axis=-1, epsilon=1e-5)


def _silu(g: Graph, x: str) -> str:
    return g.op("Mul", x, g.op("Sigmoid", x))


def _transpose(g: Graph, x: str, *perm: int) -> str:
    return g.op("Transpose", x, perm=list(perm))


def _valid_frames(g: Graph, x: str, lengths: str, time_axis: int) -> str:
    """Bool [B, T]: frame t of x is inside the sample's length."""
    frames = g.op("Gather", g.op("Shape", x), g.scalar(time_axis), axis=0)
    positions = g.op("Range", g.scalar(0), frames, g.scalar(1))
    return g.op("Less", g.op("Unsqueeze", positions, g.i64(0)), g.op("Unsqueeze", lengths, g.i64(1)))


def _mask_time(g: Graph, x: str, valid: str) -> str:
    """Zero padded frames of x [B, C, T] so batched samples see the same edges as single ones."""
    return g.op("Mul", x, g.op("Unsqueeze", g.op("Cast", valid, to=TensorProto.FLOAT), g.i64(1)))


def _subsampled_length(g: Graph, lengths: str) -> str:
    # Conv1d kernel 5, stride 2, padding 2: floor((L - 1) / 2) + 1, the length onnx-asr assumes per stage.
    return g.op("Add", g.op("Div", g.op("Sub", lengths, g.i64(1)), g.i64(2)), g.i64(1))


def _subsampling(g: Graph, a: Arch, features: str, lengths: str) -> tuple[str, str]:
    """[B, 64, T] features -> [B, T', d_model] and T' lengths, T' = (T - 1) // 4 + 1."""
    x = _mask_time(g, features, _valid_frames(g, features, lengths, 2))
    c_in = a.feat_in
    for _ in range(2):
        x = _conv1d(g, x, c_in, a.d_model, a.subs_kernel, stride=2, gain=math.sqrt(2.0))
        lengths = _subsampled_length(g, lengths)
        x = g.op("Relu", _mask_time(g, x, _valid_frames(g, x, lengths, 2)))
        c_in = a.d_model
    return _transpose(g, x, 0, 2, 1), lengths


def _rope_tables(g: Graph, a: Arch, frames: str) -> tuple[str, str]:
    """cos and sin [T', 1, d_k], sliced from GigaAM's precomputed 5000-position tables."""
    d_k = a.d_model // a.n_heads
    inv_freq = 1.0 / (a.rope_len ** (np.arange(0, d_k, 2, dtype=np.float32) / d_k))
    freqs = np.outer(np.arange(a.rope_len, dtype=np.float32), inv_freq)
    emb = np.concatenate([freqs, freqs], axis=-1)[:, None, :]
    zero, axis0 = g.i64(0), g.i64(0)
    cos = g.op("Slice", g.const(np.cos(emb).astype(np.float32), "rope_cos"), zero, frames, axis0)
    sin = g.op("Slice", g.const(np.sin(emb).astype(np.float32), "rope_sin"), zero, frames, axis0)
    return cos, sin


def _feed_forward(g: Graph, a: Arch, x: str) -> str:
    """Half-step macaron FF: x + 0.5 * FF(LN(x))."""
    d_ff = a.d_model * a.ff_expansion
    h = _silu(g, _linear(g, _layer_norm(g, x, a.d_model), a.d_model, d_ff))
    h = _linear(g, h, d_ff, a.d_model, a.branch_gain)
    return g.op("Add", x, g.op("Mul", h, g.f32(0.5)))


def _attention(g: Graph, a: Arch, x: str, rope: tuple[str, str], att_masked: str) -> str:
    """Rotary MHSA as GigaAM does it: RoPE rotates the normalized input, then q/k/v projections."""
    d, d_k = a.d_model, a.d_model // a.n_heads
    h = _layer_norm(g, x, d)
    heads = g.op("Reshape", h, g.i64(0, 0, a.n_heads, d_k))
    first, second = g.ops("Split", heads, g.i64(d_k // 2, d_k // 2), outputs=2, axis=-1)
    rotated_half = g.op("Concat", g.op("Neg", second), first, axis=-1)
    cos, sin = rope
    rotated = g.op("Add", g.op("Mul", heads, cos), g.op("Mul", rotated_half, sin))
    rotated = g.op("Reshape", rotated, g.i64(0, 0, d))

    split_heads = g.i64(0, 0, a.n_heads, d_k)
    q = _transpose(g, g.op("Reshape", _linear(g, rotated, d, d), split_heads), 0, 2, 1, 3)
    k = _transpose(g, g.op("Reshape", _linear(g, rotated, d, d), split_heads), 0, 2, 3, 1)
    v = _transpose(g, g.op("Reshape", _linear(g, h, d, d), split_heads), 0, 2, 1, 3)
    scores = g.op("MatMul", q, g.op("Mul", k, g.f32(1.0 / math.sqrt(d_k))))
    scores = g.op("Where", att_masked, g.f32(-10000.0), scores)
    probs = g.op("Where", att_masked, g.f32(0.0), g.op("Softmax", scores, axis=-1))
    context = g.op("Reshape", _transpose(g, g.op("MatMul", probs, v), 0, 2, 1, 3), g.i64(0, 0, d))
    return g.op("Add", x, _linear(g, context, d, d, a.branch_gain))


def _conv_module(g: Graph, a: Arch, x: str, valid: str) -> str:
    """Pointwise conv + GLU, depthwise conv, layer norm, SiLU, pointwise conv; in [B, C, T] like torch."""
    d = a.d_model
    h = _transpose(g, _layer_norm(g, x, d), 0, 2, 1)
    value, gate = g.ops("Split", _conv1d(g, h, d, 2 * d, 1), g.i64(d, d), outputs=2, axis=1)
    h = _mask_time(g, g.op("Mul", value, g.op("Sigmoid", gate)), valid)
    h = _conv1d(g, h, d, d, a.conv_kernel, groups=d)
    h = _transpose(g, _layer_norm(g, _transpose(g, h, 0, 2, 1), d), 0, 2, 1)
    h = _conv1d(g, _silu(g, h), d, d, 1, gain=a.branch_gain)
    return g.op("Add", x, _transpose(g, h, 0, 2, 1))


def encoder_body(g: Graph, a: Arch, features: str, feature_lengths: str) -> tuple[str, str]:
    """The Conformer encoder (subsampling and every layer): [B, T', d_model] and the T' lengths.
    Shared by the CTC model here and the RNN-T one (`bench.rnnt`)."""
    x, lengths = _subsampling(g, a, features, feature_lengths)

    valid = _valid_frames(g, x, lengths, 1)
    frames = g.op("Gather", g.op("Shape", x), g.scalar(1), axis=0)
    rope = _rope_tables(g, a, g.op("Unsqueeze", frames, g.i64(0)))
    pair_valid = g.op("And", g.op("Unsqueeze", valid, g.i64(1)), g.op("Unsqueeze", valid, g.i64(2)))
    att_masked = g.op("Unsqueeze", g.op("Not", pair_valid), g.i64(1))

    for _ in range(a.n_layers):
        x = _feed_forward(g, a, x)
        x = _attention(g, a, x, rope, att_masked)
        x = _conv_module(g, a, x, valid)
        x = _feed_forward(g, a, x)
        x = _layer_norm(g, x, a.d_model)
    return x, lengths


def build_graph(a: Arch) -> tuple[onnx.ModelProto, int]:
    """fp32 model: features [B, 64, T], feature_lengths [B] -> log_probs [B, T', vocab]; and its params."""
    g = Graph(a.seed)
    x, _ = encoder_body(g, a, "features", "feature_lengths")

    logits = _conv1d(g, _transpose(g, x, 0, 2, 1), a.d_model, a.vocab, 1)
    log_probs = g.op("LogSoftmax", _transpose(g, logits, 0, 2, 1), axis=-1)
    g.nodes.append(helper.make_node("Identity", [log_probs], ["log_probs"], name="log_probs"))

    graph = helper.make_graph(
        g.nodes,
        "gigaam_v3_ctc_random",
        [
            helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", a.feat_in, "time"]),
            helper.make_tensor_value_info("feature_lengths", TensorProto.INT64, ["batch"]),
        ],
        [helper.make_tensor_value_info("log_probs", TensorProto.FLOAT, ["batch", "frames", a.vocab])],
        g.initializers,
    )
    # IR 8 is what opset 17 shipped with; onnx's newer default is ahead of what ONNX Runtime accepts.
    model = helper.make_model(
        graph, ir_version=8, opset_imports=[helper.make_opsetid("", 17)], producer_name="gigaam-api-bench"
    )
    return model, g.params


def _stamp(a: Arch) -> dict[str, object]:
    return {"builder_version": BUILDER_VERSION, "arch": asdict(a)}


def _write_static_files(model_dir: Path, a: Arch) -> None:
    config = {"model_type": "gigaam", "version": "v3", "features_size": a.feat_in, "subsampling_factor": 4}
    (model_dir / "config.json").write_text(json.dumps(config) + "\n", encoding="utf-8")
    vocab = "".join(f"{token} {i}\n" for i, token in enumerate(VOCAB))
    (model_dir / "v3_vocab.txt").write_text(vocab, encoding="utf-8")


def _quantize(src: Path, dst: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic  # slow import, needed only here

    # Unsigned weights: the convs become ConvInteger, whose CPU kernel has long supported only uint8.
    quantize_dynamic(src, dst, weight_type=QuantType.QUInt8)


def ensure_model(cache: Path | None = None, arch: Arch = Arch()) -> Built:
    """Build the fp32 and int8 models once; later calls return the cached build."""
    model_dir = cache_dir(cache) / MODEL_NAME
    stamp_path = model_dir / STAMP_FILE
    expected = _stamp(arch)
    files = [model_dir / name for name in (FP32_FILE, INT8_FILE, "config.json", "v3_vocab.txt")]
    if stamp_path.is_file() and all(f.is_file() for f in files):
        stamp = json.loads(stamp_path.read_text(encoding="utf-8"))
        if {k: stamp.get(k) for k in expected} == expected:
            return Built(model_dir, int(stamp["params"]))

    model_dir.mkdir(parents=True, exist_ok=True)
    stamp_path.unlink(missing_ok=True)
    model, params = build_graph(arch)
    # Write under temporary names so an interrupted build never looks finished.
    fp32_tmp, int8_tmp = model_dir / f"{FP32_FILE}.tmp", model_dir / f"{INT8_FILE}.tmp"
    onnx.save_model(model, fp32_tmp)
    del model
    _quantize(fp32_tmp, int8_tmp)
    fp32_tmp.replace(model_dir / FP32_FILE)
    int8_tmp.replace(model_dir / INT8_FILE)
    _write_static_files(model_dir, arch)
    stamp_path.write_text(json.dumps({**expected, "params": params}, indent=2) + "\n", encoding="utf-8")
    return Built(model_dir, params)


def check(model_dir: Path, threads: int = 2) -> None:
    """Both precisions load through onnx-asr, transcribe 20 s, and the outputs depend on the input."""
    audio: list[str | Path | npt.NDArray[np.float32]] = [speech_like(20.0, seed) for seed in (1, 2)]
    for quantization in (None, "int8"):
        asr = onnx_asr.load_model(
            MODEL_NAME,
            model_dir,
            quantization=quantization,
            providers=["CPUExecutionProvider"],
            sess_options=session_options(threads),
        )
        texts = asr.recognize(audio)
        print(f"{quantization or 'fp32'}: transcribed 2 x 20 s, {[len(t) for t in texts]} chars")

    session = rt.InferenceSession(
        model_dir / FP32_FILE, session_options(threads), providers=["CPUExecutionProvider"]
    )
    rng = np.random.default_rng(0)
    features = rng.standard_normal((2, 64, 1999), dtype=np.float32)
    (log_probs,) = session.run(
        ["log_probs"], {"features": features, "feature_lengths": np.array([1999, 1999])}
    )
    classes = np.asarray(log_probs).argmax(axis=-1)
    if classes.shape != (2, 500) or np.array_equal(classes[0], classes[1]) or np.unique(classes[0]).size < 2:
        raise RuntimeError(f"degenerate model output: shape {classes.shape}, classes {np.unique(classes)}")
    print(
        f"outputs vary with the input: {np.unique(classes).size} distinct classes over {classes.size} frames"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--cache", type=Path, help="cache dir (default $GIGAAM_BENCH_CACHE or ~/.cache/gigaam-api-bench)"
    )
    parser.add_argument(
        "--check", action="store_true", help="load both precisions with onnx-asr and transcribe"
    )
    args = parser.parse_args()
    built = ensure_model(args.cache)
    print(
        f"{MODEL_NAME}: random weights, {built.params:,} params ({built.params / 1e6:.1f} M), in {built.path}"
    )
    if args.check:
        check(built.path)


if __name__ == "__main__":
    main()
