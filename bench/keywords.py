"""What keywords cost: the biased searches against greedy decoding on the 10-minute recording.

The full-size GigaAM v3 CTC (random weights, bench/model.py) encodes the recording once, in 25 s chunks,
through the service's engine (ONNX Runtime int8); then each decoder runs over the same log-probabilities.
The end-to-end slowdown is (encode + biased search) / (encode + greedy), in CPU seconds of this process
(the machine may be shared: wall time would measure the neighbours). It also prints the text without
keywords, hashed, to compare with another checkout's (`--text-only`).

    python -m bench.keywords [--cache DIR] [--minutes 10] [--text-only]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import time
import wave
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from bench.common import SAMPLE_RATE, cache_dir
from bench.model import MODEL_NAME, ensure_model
from bench.recordings import SENTENCES, recording
from gigaam_api.config import load_settings
from gigaam_api.engines.base import EngineOptions
from gigaam_api.engines.registry import create_engine

CHUNK_SECONDS = 25
BATCH = 4  # chunks per engine call


def phrases(count: int) -> tuple[str, ...]:
    """`count` phrases: words of the recording's sentences first (so some match), then made-up names."""
    words = dict.fromkeys(w.strip(",.?").lower() for s in SENTENCES for w in s.split() if len(w) > 3)
    found = [w.replace("ё", "е") for w in words]
    rng = np.random.default_rng(5)
    letters = list("абвгдежзийклмнопрстуфхцчшщъыьэюя")
    while len(found) < count:
        found.append("".join(rng.choice(letters, size=int(rng.integers(4, 12)))))
    return tuple(found[:count])


def load_chunks(path: Path) -> list[npt.NDArray[np.float32]]:
    with wave.open(str(path), "rb") as f:
        pcm = (np.frombuffer(f.readframes(f.getnframes()), "<i2") / 32768).astype(np.float32)
    step = CHUNK_SECONDS * SAMPLE_RATE
    return [pcm[i : i + step] for i in range(0, len(pcm), step)]


def cpu_flags() -> str:
    wanted = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile", "fma")
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            return " ".join(f for f in wanted if f in flags)
    return "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--cache", type=Path)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--text-only", action="store_true", help="print the hash of the text and stop")
    args = parser.parse_args()
    cache = cache_dir(args.cache)
    built = ensure_model(cache)
    chunks = load_chunks(recording(cache, args.minutes))
    settings = load_settings(
        _env_file=None,
        MODEL=MODEL_NAME,
        MODELS_DIR=built.path.parent,
        OFFLINE=True,
        GIGAAM_RUNTIME="onnxruntime",
        GIGAAM_PRECISION="int8",
        DEVICE="cpu",
        NUM_THREADS=2,
    )
    engine: Any = create_engine(settings)
    print(f"cpu flags: {cpu_flags()}; load: {os.getloadavg()}; {len(chunks)} chunks of {CHUNK_SECONDS} s")

    started = time.process_time()
    results = [
        r
        for i in range(0, len(chunks), BATCH)
        for r in engine.transcribe_batch(chunks[i : i + BATCH], EngineOptions())
    ]
    text = " ".join(r.text for r in results)
    engine_greedy = time.process_time() - started
    print(f"text without keywords: sha256 {hashlib.sha256(text.encode()).hexdigest()} ({len(text)} chars)")
    print(f"engine, no keywords: {engine_greedy:.1f} CPU s")
    if args.text_only:
        return

    measure(engine, chunks, engine_greedy)
    print(f"load after: {os.getloadavg()}")


def measure(engine: Any, chunks: list[npt.NDArray[np.float32]], engine_greedy: float) -> None:
    """Encode once; time greedy and the biased search on the same log-probabilities; then one full
    engine pass with 100 keywords. Reaches into the engine's onnx-asr model, as BiasedAsr does."""
    from onnx_asr.utils import pad_list

    from gigaam_api.engines.biased_search import ctc_prefix_beam_search
    from gigaam_api.engines.gigaam.adapter import context_graph
    from gigaam_api.engines.keywords import DEFAULT_BOOST

    asr = engine._recognizers[0].asr
    encoded: list[npt.NDArray[np.float32]] = []
    started = time.process_time()
    for i in range(0, len(chunks), BATCH):
        out, lengths = asr._encode(*asr._preprocessor(*pad_list(chunks[i : i + BATCH])))
        encoded += [out[j, : int(n)] for j, n in enumerate(lengths)]
    encode = time.process_time() - started
    frames = sum(len(e) for e in encoded)

    started = time.process_time()
    for logprobs in encoded:
        list(asr._decoding(logprobs[None], np.array([len(logprobs)]), need_logprobs="yes"))
    greedy = time.process_time() - started
    print(f"encode: {encode:.1f} CPU s for {frames} frames; greedy decoding: {greedy:.2f} CPU s")
    for count in (10, 100):
        started = time.process_time()
        graph = context_graph(phrases(count), DEFAULT_BOOST, engine._token_texts)
        for logprobs in encoded:
            ctc_prefix_beam_search(logprobs, asr._blank_idx, graph)
        biased = time.process_time() - started
        slower = (encode + biased) / (encode + greedy) - 1
        print(f"{count} keywords: search {biased:.2f} CPU s; end to end {slower:+.1%} against greedy")

    started = time.process_time()
    for i in range(0, len(chunks), BATCH):
        engine.transcribe_batch(chunks[i : i + BATCH], EngineOptions(keywords=phrases(100)))
    full = time.process_time() - started
    print(f"engine, 100 keywords: {full:.1f} CPU s ({full / engine_greedy - 1:+.1%} against no keywords)")


if __name__ == "__main__":
    main()
