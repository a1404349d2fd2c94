"""int8 side by side: ORT fp32, ORT int8, OpenVINO int8 weight-only and int8-static in one run.

The limit (20-s chunks, each configuration in its own process, both IRs rebuilt so their build times
are measured) and the service on the 10-minute recording (a real `gigaam-api serve` per configuration),
with peak RSS, the character edit rate and words per minute against ORT fp32, the CPU's instruction
sets, and the load average beside every figure (the machine may be shared). `make bench` measures the
same configurations among all the others; this is the quick comparison.

    python -m bench.int8 [--out docs/int8.json]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from bench import limit
from bench.common import cache_dir, instruction_sets, machine_info, write_json
from bench.configs import BY_LABEL, REFERENCE
from bench.fidelity import char_error_rate, words_per_minute
from bench.model import ensure_model
from bench.recordings import recording
from bench.run import end_to_end
from bench.service import serve

CONFIGS = ("ort-fp32", "ort-int8", "ov-int8", "ov-int8-static")
ROOT = Path(__file__).resolve().parent.parent


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "int8.json")
    args = parser.parse_args()
    cache = cache_dir()
    models_dir = ensure_model(cache).path.parent
    ten = recording(cache, 10)
    report: dict[str, Any] = {"machine": machine_info(args.threads), "instruction_sets": instruction_sets()}
    print(
        f"CPU {report['machine']['cpu']}: {' '.join(report['instruction_sets'])}; load {_load()}", flush=True
    )
    report["limit"] = limit.run(threads=args.threads, batches=[1, 4], runs=1, cache=cache, only=list(CONFIGS))
    measured = [r["label"] for r in report["limit"]["results"]]
    service: dict[str, Any] = {}
    texts: dict[str, str] = {}
    for label in measured:
        settings = {**BY_LABEL[label].env(), "BATCH_SECONDS": "22"}
        with serve(models_dir, threads=args.threads, **settings) as server:
            load_before = _load()
            entry, texts[label] = end_to_end(server, ten, stream=False, runs=1)
        entry |= {
            "load_before": load_before,
            "load_after": _load(),
            "cold_start_seconds": server.cold_start_seconds,
        }
        entry["words_per_minute"] = words_per_minute(texts[label], 600)
        figures = f"{entry['realtime']}x, peak {entry['peak_rss_mb']} MB, load {entry['load_after']}"
        print(f"  service {label}: {figures}", flush=True)
        service[label] = entry
    for label, entry in service.items():
        if REFERENCE in texts:
            entry["cer_vs_ort_fp32"] = round(char_error_rate(texts[REFERENCE], texts[label]), 4)
    report["service"] = service
    report["machine"]["load_average_after"] = _load()
    write_json(args.out, report)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
