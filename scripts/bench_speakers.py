"""Diarization on this machine: embedding + clustering time per hour of speech, extra peak RSS for an
hour, the latency diarization adds to the first streamed segment (the first chunk's windows, embedded
on the inference thread with its batch), and DER (final and streamed labels) on the synthetic
conversations of the tests.

Runs the speaker model in MODELS_DIR (default settings' name); without one there, the tests' GE2E model
(tests/fixtures/speaker_model.py) is built into a temporary directory and measured instead — say which
in any number you quote. Not part of `make test`.

Usage: python -m scripts.bench_speakers [--models-dir DIR] [--hours 1] [--threads 2] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

from bench.common import machine_info
from gigaam_api.audio.rate import SAMPLE_RATE
from gigaam_api.config import Settings, load_settings
from gigaam_api.engines.base import ChunkPolicy
from gigaam_api.engines.gigaam.runtime import read_cpu_flags
from gigaam_api.pipeline.chunk_plan import chunking_settings
from gigaam_api.speakers.catalog import MODELS, described
from gigaam_api.speakers.diarizer import Diarizer
from gigaam_api.speakers.registry import create_embedder
from gigaam_api.speakers.turns import Turn
from gigaam_api.speakers.weights import missing_files
from gigaam_api.vad.chunking import plan_chunks
from gigaam_api.vad.silero import SileroVad
from tests.fixtures.conversations import FOUR, THREE, TWO, conversation, diarization_error_rate

GIGAAM_CHUNKS = ChunkPolicy(30.0, preferred_seconds=22.0, whole=False)  # GigaAM's chunk policy
SIMD = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "neon", "asimd")


def _changed_share(online: list[Turn], final: list[Turn], frame: float = 0.01) -> float:
    """The share of labelled time whose streamed label is not the final one."""
    changed = total = 0
    for turn in online:
        for i in range(round(turn.start / frame), round(turn.end / frame)):
            moment = (i + 0.5) * frame
            label = next((f.speaker for f in final if f.start <= moment < f.end), None)
            total += 1
            changed += label != turn.speaker
    return changed / max(total, 1)


def conversations(settings: Settings) -> dict[str, Any]:
    embedder = create_embedder(settings)
    vad = SileroVad()
    results = {}
    for name, script in (("2 voices", TWO), ("3 voices", THREE), ("4 voices", FOUR)):
        audio, truth = conversation(*script)
        diarizer = Diarizer(embedder)
        online: list[Turn] = []
        first_chunk_seconds = None
        for chunk in plan_chunks(vad.probabilities(audio), chunking_settings(settings, GIGAAM_CHUNKS)):
            began = time.perf_counter()
            online += diarizer.feed(chunk.start / SAMPLE_RATE, audio[chunk.start : chunk.end])
            if first_chunk_seconds is None:
                first_chunk_seconds = time.perf_counter() - began
        final = diarizer.finish()
        results[name] = {
            "seconds": round(len(audio) / SAMPLE_RATE, 1),
            "speakers_found": len({t.speaker for t in final}),
            "der_final": round(diarization_error_rate(truth, final), 3),
            "der_streamed": round(diarization_error_rate(truth, online), 3),
            "streamed_label_changed": round(_changed_share(online, final), 3),
            "first_segment_delay_seconds": round(first_chunk_seconds or 0.0, 3),
        }
    return results


def long_run(models_dir: Path, hours: float, threads: int) -> dict[str, Any]:
    command = [sys.executable, "-W", "ignore", "-m", "tests.fixtures.long_diarization", str(models_dir)]
    command += ["--hours", str(hours), "--threads", str(threads)]
    measured: dict[str, Any] = json.loads(
        subprocess.run(command, capture_output=True, text=True, check=True).stdout
    )
    per_hour = measured["embed_and_assign_seconds"] / measured["speech_hours"]
    measured["seconds_per_hour_of_speech"] = round(per_hour, 1)
    measured["extra_peak_rss_mb"] = round(measured["peak_rss_mb_end"] - measured["rss_mb_before_model"], 1)
    measured["growth_after_warmup_mb"] = round(
        measured["peak_rss_mb_end"] - measured["peak_rss_mb_after_warmup"], 1
    )
    return measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models-dir", type=Path, default=None)
    parser.add_argument("--hours", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    with tempfile.TemporaryDirectory(prefix="bench-speakers-") as tmp:
        models_dir = args.models_dir or Settings().MODELS_DIR
        spec = MODELS[Settings().SPEAKER_MODEL]
        if missing_files(models_dir / spec.name, spec):
            from tests.fixtures.speaker_model import build

            models_dir = Path(tmp)
            build(models_dir)
        settings = load_settings(
            _env_file=None, MODELS_DIR=models_dir, OFFLINE=True, NUM_THREADS=args.threads
        )
        model = described(spec, models_dir / spec.name)
        flags = read_cpu_flags()
        report = {
            "machine": machine_info(args.threads) | {"simd": [f for f in SIMD if f in flags]},
            "speaker_model": {
                "name": model.name,
                "source": model.source or spec.repo_id,
                "frontend": model.frontend,
            },
            "conversations": conversations(settings),
            "long_run": long_run(models_dir, args.hours, args.threads),
        }
    text = json.dumps(report, indent=2, ensure_ascii=False)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
