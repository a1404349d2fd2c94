"""Full-size GigaAM v3 RNN-T with random weights beside the CTC one, measured on every runtime.

The encoder is the CTC model's (`bench.model.encoder_body`: same Conformer, same compute) with
`encoded` [B, 768, T'] as its output; the decoder is GigaAM's prediction network (embedding and a
one-layer LSTM of 320) and the joint its two projections to 320, ReLU and the output layer, in the hub
layout onnx-asr loads (`v3_rnnt_{encoder,decoder,joint}.onnx` and their `.int8.onnx`). The greedy decoding
loop calls the decoder once per emitted token and the joint once per frame and token, so its share of the
time depends on how many tokens come out: random weights do not talk like speech, so the bench reports
the calls it made and the time per call, and models the loop at a speech rate too.

    python -m bench.rnnt [--cache DIR] [--chunks N] [--out docs/rnnt.json]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper

from bench.common import cache_dir, instruction_sets, machine_info, speech_like, write_json
from bench.model import Arch, Graph, _quantize, _write_static_files, encoder_body, ensure_model
from gigaam_api.engines.gigaam.ir import ensure_int8_ir
from gigaam_api.engines.gigaam.loader import fp32_onnx_files, load_recognizer
from gigaam_api.engines.gigaam.runtime import RuntimeChoice

MODEL_NAME = "gigaam-v3-rnnt"
PRED_HIDDEN = 320  # GigaAM's prediction network and joint width (onnx-asr hard-codes the state size)
# Blank's lead in the joint's output bias: enough that most frames emit nothing, as in speech.
BLANK_BIAS = 4.0
# Speech emits about 14 characters a second: 0.56 tokens per 40-ms frame.
SPEECH_TOKENS_PER_FRAME = 0.56
STAMP = {"builder_version": 2}
ROOT = Path(__file__).resolve().parent.parent

CONFIGS = {
    "ort-fp32": RuntimeChoice("onnxruntime", "cpu", "fp32", "bench"),
    "ort-int8": RuntimeChoice("onnxruntime", "cpu", "int8", "bench"),
    "ov-int8": RuntimeChoice("openvino", "cpu", "int8", "bench"),
}


def _model(g: Graph, name: str, inputs: list[Any], outputs: list[Any]) -> onnx.ModelProto:
    graph = helper.make_graph(g.nodes, name, inputs, outputs, g.initializers)
    return helper.make_model(graph, ir_version=8, opset_imports=[helper.make_opsetid("", 17)])


def _encoder(a: Arch) -> onnx.ModelProto:
    g = Graph(a.seed)
    x, lengths = encoder_body(g, a, "audio_signal", "length")
    g.nodes.append(helper.make_node("Transpose", [x], ["encoded"], perm=[0, 2, 1]))
    g.nodes.append(helper.make_node("Cast", [lengths], ["encoded_len"], to=TensorProto.INT32))
    return _model(
        g,
        "gigaam_v3_rnnt_encoder_random",
        [
            helper.make_tensor_value_info("audio_signal", TensorProto.FLOAT, ["batch", a.feat_in, "time"]),
            helper.make_tensor_value_info("length", TensorProto.INT64, ["batch"]),
        ],
        [
            helper.make_tensor_value_info("encoded", TensorProto.FLOAT, ["batch", a.d_model, "frames"]),
            helper.make_tensor_value_info("encoded_len", TensorProto.INT32, ["batch"]),
        ],
    )


def _decoder(a: Arch) -> onnx.ModelProto:
    g = Graph(a.seed + 1)
    h = PRED_HIDDEN
    embedded = g.op("Gather", g.random((a.vocab, h), 1, 1.0, "embedding"), "x")  # [1, 1, h]
    w = g.random((1, 4 * h, h), h, 1.0, "lstm_w")
    r = g.random((1, 4 * h, h), h, 1.0, "lstm_r")
    y, y_h, y_c = g.ops(
        "LSTM",
        embedded,
        w,
        r,
        g.const(np.zeros((1, 8 * h), np.float32), "lstm_b", param=True),
        "",
        "h.1",
        "c.1",
        outputs=3,
        hidden_size=h,
    )
    g.nodes.append(helper.make_node("Reshape", [y, g.i64(1, 1, h)], ["dec"]))
    g.nodes.append(helper.make_node("Identity", [y_h], ["h"]))
    g.nodes.append(helper.make_node("Identity", [y_c], ["c"]))
    state = [1, 1, h]
    return _model(
        g,
        "gigaam_v3_rnnt_decoder_random",
        [
            helper.make_tensor_value_info("x", TensorProto.INT64, [1, 1]),
            helper.make_tensor_value_info("h.1", TensorProto.FLOAT, state),
            helper.make_tensor_value_info("c.1", TensorProto.FLOAT, state),
        ],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, state) for n in ("dec", "h", "c")],
    )


def _joint(a: Arch) -> onnx.ModelProto:
    g = Graph(a.seed + 2)
    h = PRED_HIDDEN
    enc = g.op(
        "MatMul", g.op("Transpose", "enc", perm=[0, 2, 1]), g.random((a.d_model, h), a.d_model, 1.0, "enc_w")
    )
    dec = g.op("MatMul", g.op("Transpose", "dec", perm=[0, 2, 1]), g.random((h, h), h, 1.0, "dec_w"))
    hidden = g.op("Relu", g.op("Add", enc, dec))
    bias = np.zeros(a.vocab, np.float32)
    bias[-1] = BLANK_BIAS  # blank is the last token
    logits = g.op("Add", g.op("MatMul", hidden, g.random((h, a.vocab), h, 1.0, "out_w")), g.const(bias))
    g.nodes.append(helper.make_node("Unsqueeze", [logits, g.i64(1)], ["joint"]))
    return _model(
        g,
        "gigaam_v3_rnnt_joint_random",
        [
            helper.make_tensor_value_info("enc", TensorProto.FLOAT, [1, a.d_model, 1]),
            helper.make_tensor_value_info("dec", TensorProto.FLOAT, [1, h, 1]),
        ],
        [helper.make_tensor_value_info("joint", TensorProto.FLOAT, [1, 1, 1, a.vocab])],
    )


def ensure_rnnt(cache: Path) -> Path:
    """Build the fp32 and int8 files once; later calls return the cached build."""
    a = Arch()
    model_dir = cache / MODEL_NAME
    stamp = model_dir / "build.json"
    if stamp.is_file() and json.loads(stamp.read_text(encoding="utf-8")) == STAMP:
        return model_dir
    model_dir.mkdir(parents=True, exist_ok=True)
    for part, build in (("encoder", _encoder), ("decoder", _decoder), ("joint", _joint)):
        fp32 = model_dir / f"v3_rnnt_{part}.onnx"
        onnx.save_model(build(a), fp32)
        _quantize(fp32, model_dir / f"v3_rnnt_{part}.int8.onnx")
    _write_static_files(model_dir, a)
    stamp.write_text(json.dumps(STAMP), encoding="utf-8")
    return model_dir


class _Timed:
    """A session whose `run` calls are counted and timed (the decoding loop's decoder and joint)."""

    def __init__(self, session: Any) -> None:
        self._session = session
        self.calls = 0
        self.seconds = 0.0

    def run(self, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return self._session.run(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - started
            self.calls += 1


def per_call_seconds(session: Any, output_names: list[str], feeds: dict[str, Any], calls: int = 200) -> float:
    """One session's time per `run`, over `calls` runs of the same step (the loop's calls are alike)."""
    session.run(output_names, feeds)
    started = time.perf_counter()
    for _ in range(calls):
        session.run(output_names, feeds)
    return (time.perf_counter() - started) / calls


def loop_call_seconds(asr: Any) -> dict[str, float]:
    """The decoding loop's two steps timed on their own: random weights emit too few tokens to time them
    inside a run (and how many they emit says nothing about speech)."""
    state = np.zeros((1, 1, PRED_HIDDEN), np.float32)
    decoder = {"x": [[0]], "h.1": state, "c.1": state}
    joint = {
        "enc": np.zeros((1, Arch().d_model, 1), np.float32),
        "dec": np.zeros((1, PRED_HIDDEN, 1), np.float32),
    }
    return {
        "decoder": per_call_seconds(asr._decoder, ["dec", "h", "c"], decoder),
        "joint": per_call_seconds(asr._joiner, ["joint"], joint),
    }


def measure(
    model_dir: Path, model: str, choice: RuntimeChoice, chunks: list[Any], threads: int
) -> dict[str, Any]:
    if choice.int8_ir:
        ensure_int8_ir(model_dir, fp32_onnx_files(model))
    recognizer = load_recognizer(model_dir, model, choice, threads)
    asr: Any = recognizer.asr
    timed = {}
    if hasattr(asr, "_joiner"):
        asr._decoder, asr._joiner = timed["decoder"], timed["joint"] = (
            _Timed(asr._decoder),
            _Timed(asr._joiner),
        )
    recognizer.recognize([chunks[0]], sample_rate=16_000)  # warm-up
    for t in timed.values():
        t.calls, t.seconds = 0, 0.0
    load = os.getloadavg()[0]
    started = time.perf_counter()
    for chunk in chunks:
        recognizer.recognize([chunk], sample_rate=16_000)
    wall = time.perf_counter() - started
    audio = sum(len(c) for c in chunks) / 16_000
    entry: dict[str, Any] = {"realtime": round(audio / wall, 2), "load_1min": round(load, 2)}
    if timed:
        loop = sum(t.seconds for t in timed.values())
        frames = audio / 0.04
        per_call = loop_call_seconds(asr)
        # The loop at a speech rate: a joint call per frame and per token, a decoder call per token.
        speech_loop = frames * (per_call["joint"] * (1 + SPEECH_TOKENS_PER_FRAME)) + frames * (
            SPEECH_TOKENS_PER_FRAME * per_call["decoder"]
        )
        encoder = wall - loop
        entry |= {
            "decoding_loop_share": round(loop / wall, 3),
            "tokens_per_frame": round(timed["decoder"].calls / frames, 2),
            "ms_per_decoder_call": round(per_call["decoder"] * 1000, 3),
            "ms_per_joint_call": round(per_call["joint"] * 1000, 3),
            "realtime_at_speech_rate": round(audio / (encoder + speech_loop), 2),
            "decoding_loop_share_at_speech_rate": round(speech_loop / (encoder + speech_loop), 3),
        }
    return entry


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cache", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--chunks", type=int, default=4, help="20-s chunks per configuration")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "rnnt.json")
    args = parser.parse_args()
    cache = cache_dir(args.cache)
    ctc_dir = ensure_model(cache).path
    rnnt_dir = ensure_rnnt(cache)
    chunks = [speech_like(20.0, seed) for seed in range(args.chunks)]
    report: dict[str, Any] = {"machine": machine_info(args.threads), "instruction_sets": instruction_sets()}
    print(f"CPU {report['machine']['cpu']}: {' '.join(report['instruction_sets'])}", flush=True)
    results: dict[str, Any] = {}
    for label, choice in CONFIGS.items():  # CTC and RNN-T of one runtime back to back: same load
        for model, model_dir in (("gigaam-v3-ctc", ctc_dir), (MODEL_NAME, rnnt_dir)):
            entry = measure(model_dir, model, choice, chunks, args.threads)
            results[f"{label} {model}"] = entry
            print(f"  {label} {model}: {entry}", flush=True)
    report["engine_20s_chunks"] = results
    write_json(args.out, report)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
