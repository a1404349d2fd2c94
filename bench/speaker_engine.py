"""The speaker embedder alone: CPU milliseconds per 1.5-s window for each way to run it, side by side.

Diarization's whole extra cost is this model (bench/diarization.py), so this measures only it, in one
process, all variants interleaved round by round, with the CPU time of the process (every thread's user +
system, `time.process_time`) rather than wall time: on a machine other work keeps busy, wall time of one
run can double between two runs while CPU time barely moves. The models are WeSpeaker's ResNet34 and
CAM++ (the production default) with random weights (tests/fixtures/wespeaker_model.py), their exact
graphs. The windows are real speech (espeak-ng's Russian voices, tests/fixtures/conversations.py); their
fbank features are computed once (the front end is the same for every variant, measured on its own) and
fed to each variant.

`ort-fp32` is the service's configuration before OpenVINO (8 windows per call, pool threads spinning);
the int8 variants are calibrated on other speech (the shipped calibration recording).

Fidelity: each variant's embeddings against ONNX Runtime fp32's, cosine similarity per window (min and
mean), on the random-weight models (each against its own) and on the pretrained GE2E encoder
(tests/fixtures/speaker_model.py).

    python -m bench.speaker_engine [--cache DIR] [--windows 64] [--rounds 5] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnxruntime as rt
import openvino as ov

from bench.common import cache_dir, machine_info
from gigaam_api.speakers.catalog import DEFAULT_SPEAKER_MODEL, MODELS, RESNET34_SPEAKER_MODEL

Array = npt.NDArray[np.float32]
Run = Callable[[Array], Array]
Report = dict[str, Any]
WINDOW = 24_000  # 1.5 s at 16 kHz: the catalog's window
BATCH = 8  # windows per call as the service ran them until 6 December (4 since), for comparable figures


def speech_windows(count: int) -> Array:
    """`count` 1.5-s windows of real speech, hop 1.125 s, over conversations of four espeak-ng voices."""
    from tests.fixtures.conversations import FOUR, THREE, TWO, conversation

    audio = np.concatenate([conversation(*script)[0] for script in (TWO, THREE, FOUR)])
    hop = WINDOW * 3 // 4
    starts = range(0, len(audio) - WINDOW, hop)
    windows = [audio[s : s + WINDOW] for s in starts if np.sqrt(np.mean(audio[s : s + WINDOW] ** 2)) > 0.01]
    while len(windows) < count:
        windows += windows
    return np.stack(windows[:count])


def fbank(windows: Array) -> Array:
    """WeSpeaker's features as the service computes them (onnx-asr's NumPy preprocessor, mean-normalised)."""
    from onnx_asr.preprocessors.numpy_preprocessor import KaldiPreprocessorNumpy

    preprocessor = KaldiPreprocessorNumpy("wespeaker")
    lengths = np.full(len(windows), windows.shape[1], dtype=np.int64)
    features, _ = preprocessor(windows, lengths)
    features -= features.mean(axis=1, keepdims=True)
    return np.asarray(features, dtype=np.float32)


def ort_run(path: Path, *, threads: int, spinning: bool, input_name: str, output: str) -> Run:
    options = rt.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = rt.ExecutionMode.ORT_SEQUENTIAL
    if not spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = rt.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def run(batch: Array) -> Array:
        (result,) = session.run([output], {input_name: batch})
        return np.asarray(result, dtype=np.float32)

    return run


def ov_run(path: Path, *, threads: int, precision: str) -> Run:
    """As the service compiles it (CAM++'s segment pools rewritten); an IR as it is."""
    from gigaam_api.speakers.openvino import read_model

    core = ov.Core()
    compiled = core.compile_model(
        read_model(path) if path.suffix == ".onnx" else core.read_model(str(path)),
        "CPU",
        {
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_PRECISION_HINT": precision,
            "INFERENCE_NUM_THREADS": threads,
        },
    )
    request = compiled.create_infer_request()

    def run(batch: Array) -> Array:
        return np.asarray(request.infer([batch])[0], dtype=np.float32).copy()

    return run


def calibration_features() -> Array:
    """Speech the measured windows do not contain, for int8's activation ranges: the service's shipped
    calibration recording (espeak-ng, engines/gigaam/calibration.ogg), 48 windows spread over it."""
    from gigaam_api.engines.gigaam.calibration import calibration_audio

    audio = calibration_audio()
    starts = range(0, len(audio) - WINDOW, len(audio) // 48)
    return fbank(np.stack([audio[s : s + WINDOW] for s in starts][:48]))


def int8_ir(path: Path, out_dir: Path, *, keep_ends: bool) -> Path:
    """NNCF's post-training int8 quantization (weights and activations) of the ResNet34 as an OpenVINO IR;
    `keep_ends` leaves the first convolution (one input channel) and the embedding layer in f32."""
    import nncf

    model = ov.Core().read_model(str(path))
    calibration = calibration_features()
    ignored = nncf.IgnoredScope()
    if keep_ends:
        ops = model.get_ordered_ops()
        first = next(op for op in ops if op.get_type_name() == "Convolution")
        last = [op for op in ops if op.get_type_name() == "MatMul"]
        ignored = nncf.IgnoredScope(names=[op.get_friendly_name() for op in (first, *last)])
    dataset = nncf.Dataset([calibration[i : i + 1] for i in range(len(calibration))])
    quantized = nncf.quantize(model, dataset, subset_size=len(calibration), ignored_scope=ignored)
    target = out_dir / f"resnet34-int8{'-keep-ends' if keep_ends else ''}.xml"
    ov.save_model(quantized, str(target), compress_to_fp16=False)
    return target


def ms_per_window(run: Run, inputs: Array, batch: int) -> tuple[float, float]:
    """CPU and wall milliseconds per window (the wall time only to compare variants run side by side)."""
    start, wall = time.process_time(), time.perf_counter()
    for first in range(0, len(inputs), batch):
        run(inputs[first : first + batch])
    cpu, wall = time.process_time() - start, time.perf_counter() - wall
    return cpu * 1000 / len(inputs), wall * 1000 / len(inputs)


def embed_all(run: Run, inputs: Array, batch: int) -> Array:
    return np.concatenate([run(inputs[i : i + batch]) for i in range(0, len(inputs), batch)])


def similarity(a: Array, b: Array) -> dict[str, float]:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    cosine = np.sum(a * b, axis=1)
    return {"min": round(float(cosine.min()), 5), "mean": round(float(cosine.mean()), 5)}


def resnet_variants(path: Path, threads: int, work: Path) -> dict[str, tuple[Run, int]]:
    """Each variant's runner and batch size; the first is the reference: the service before OpenVINO."""
    variants: dict[str, tuple[Run, int]] = {
        "ort-fp32": (ort_run(path, threads=threads, spinning=True, input_name="feats", output="embs"), BATCH),
        "ort-fp32-batch1": (
            ort_run(path, threads=threads, spinning=True, input_name="feats", output="embs"),
            1,
        ),
        "ort-fp32-nospin": (
            ort_run(path, threads=threads, spinning=False, input_name="feats", output="embs"),
            BATCH,
        ),
        "ort-fp32-1thread": (
            ort_run(path, threads=1, spinning=True, input_name="feats", output="embs"),
            BATCH,
        ),
        "ov-f32": (ov_run(path, threads=threads, precision="f32"), BATCH),
        "ov-f32-1thread": (ov_run(path, threads=1, precision="f32"), BATCH),
    }
    if "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
        variants["ov-bf16"] = (ov_run(path, threads=threads, precision="bf16"), BATCH)
        variants["ov-bf16-batch1"] = (ov_run(path, threads=threads, precision="bf16"), 1)
        variants["ov-bf16-1thread"] = (ov_run(path, threads=1, precision="bf16"), BATCH)
    for keep_ends in (False, True):
        ir = int8_ir(path, work, keep_ends=keep_ends)
        name = "ov-int8-keep-ends" if keep_ends else "ov-int8"
        variants[name] = (ov_run(ir, threads=threads, precision="f32"), BATCH)
    return variants


def campplus_variants(path: Path, threads: int) -> dict[str, tuple[Run, int]]:
    """The default model as the service runs it: ONNX Runtime's path (pool threads not spinning) and
    OpenVINO's; its reference is its own ONNX Runtime fp32."""
    variants: dict[str, tuple[Run, int]] = {
        "campplus-ort-fp32": (
            ort_run(path, threads=threads, spinning=False, input_name="feats", output="embs"),
            BATCH,
        ),
        "campplus-ov-f32": (ov_run(path, threads=threads, precision="f32"), BATCH),
    }
    if "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
        variants["campplus-ov-bf16"] = (ov_run(path, threads=threads, precision="bf16"), BATCH)
    return variants


def ge2e_fidelity(windows: Array, threads: int, work: Path) -> Report:
    """OpenVINO against ONNX Runtime on the pretrained GE2E encoder (waveform in, embedding out)."""
    from tests.fixtures.speaker_model import build

    build(work)
    path = work / DEFAULT_SPEAKER_MODEL / MODELS[DEFAULT_SPEAKER_MODEL].onnx_file
    reference = embed_all(
        ort_run(path, threads=threads, spinning=True, input_name="waveform", output="embedding"),
        windows,
        BATCH,
    )
    report: Report = {}
    precisions = ["f32"]
    if "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
        precisions.append("bf16")
    for precision in precisions:
        found = embed_all(ov_run(path, threads=threads, precision=precision), windows, BATCH)
        report[f"ov-{precision}"] = similarity(reference, found)
    return report


def run(cache: Path, *, windows: int, rounds: int, threads: int) -> Report:
    from tests.fixtures.wespeaker_model import build

    report: Report = {"machine": machine_info(threads), "niceness": os.nice(0), "windows": windows}
    audio = speech_windows(windows)
    features = fbank(audio)
    front_end = [ms_per_window(fbank, audio, BATCH)[0] for _ in range(rounds)]
    report["fbank_cpu_ms_per_window"] = round(statistics.median(front_end), 2)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        work = Path(tmp)
        variants = resnet_variants(build(work, RESNET34_SPEAKER_MODEL), threads, work)
        campplus = campplus_variants(build(work), threads)
        report["fidelity_vs_ort_fp32"] = {}
        for group, reference_name in ((variants, "ort-fp32"), (campplus, "campplus-ort-fp32")):
            reference = embed_all(group[reference_name][0], features, BATCH)
            report["fidelity_vs_ort_fp32"] |= {
                name: similarity(reference, embed_all(runner, features, batch))
                for name, (runner, batch) in group.items()
            }
        variants |= campplus
        samples: dict[str, list[float]] = {name: [] for name in variants}
        walls: dict[str, list[float]] = {name: [] for name in variants}
        for index in range(rounds):
            order = list(variants) if index % 2 == 0 else list(reversed(variants))
            for name in order:
                runner, batch = variants[name]
                cpu, wall = ms_per_window(runner, features, batch)
                samples[name].append(cpu)
                walls[name].append(wall)
            print(f"  round {index + 1}: " + json.dumps({k: round(v[-1], 1) for k, v in samples.items()}))
        report["cpu_ms_per_window"] = {name: round(statistics.median(v), 1) for name, v in samples.items()}
        report["cpu_ms_per_window_runs"] = {name: [round(x, 1) for x in v] for name, v in samples.items()}
        report["wall_ms_per_window"] = {name: round(statistics.median(v), 1) for name, v in walls.items()}
        report["ge2e_fidelity_vs_ort_fp32"] = ge2e_fidelity(audio, threads, work)
    report["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cache", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--windows", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    cache = cache_dir(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    report = run(cache, windows=args.windows, rounds=args.rounds, threads=args.threads)
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
