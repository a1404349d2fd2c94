"""What deduplication saves on the 10-minute recording, through a real `gigaam-api serve`.

Three figures, each a fresh key (a different `language` value keeps them apart):
- a first run, then the same request again in another format, answered from the result cache;
- a client that gives up (read timeout) in the middle, then retries: the retry attaches to the run
  still in flight, so the total is one run, not one and a half;
- the batches the server ran for each case (from /metrics), which show that nothing ran twice.

    python -m bench.dedup [--threads 2] [--give-up-after 10] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bench.common import cache_dir, write_json
from bench.model import ensure_model
from bench.recordings import recording
from bench.service import serve

Report = dict[str, Any]
URL_PATH = "/v1/audio/transcriptions"


def _post(url: str, audio: bytes, timeout: httpx.Timeout, **fields: str) -> tuple[float, httpx.Response]:
    started = time.monotonic()
    response = httpx.post(
        f"{url}{URL_PATH}", files={"file": ("upload.wav", audio)}, data=fields, timeout=timeout
    )
    response.raise_for_status()
    return time.monotonic() - started, response


def _counter(url: str, name: str) -> float:
    """The sum of a counter's or histogram count's samples in /metrics."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    )


def run(models_dir: Path, audio_path: Path, *, threads: int, give_up_after: float) -> Report:
    audio = audio_path.read_bytes()
    patient = httpx.Timeout(7200)
    with (
        tempfile.TemporaryDirectory() as cache,
        serve(models_dir, threads=threads, DEDUP="true", CACHE_MAX_MB="256", CACHE_DIR=cache) as server,
    ):
        url = server.url
        batches = _counter(url, "gigaam_batch_seconds_count")
        first_seconds, first = _post(url, audio, patient, language="ru")
        first_batches = _counter(url, "gigaam_batch_seconds_count") - batches
        repeat_seconds, repeat = _post(url, audio, patient, language="ru", response_format="srt")
        assert _counter(url, "gigaam_cache_hits_total") == 1, "the repeat was not answered from the cache"

        batches = _counter(url, "gigaam_batch_seconds_count")
        started = time.monotonic()
        try:
            _post(url, audio, httpx.Timeout(7200, read=give_up_after))
            raise AssertionError(f"the run finished within {give_up_after} s: give up sooner")
        except httpx.ReadTimeout:
            pass
        retry_seconds, retried = _post(url, audio, patient)
        total_seconds = time.monotonic() - started
        retry_batches = _counter(url, "gigaam_batch_seconds_count") - batches
        attached = _counter(url, "gigaam_dedup_attached_total")
    assert retried.json()["text"] == first.json()["text"] and repeat.text
    return {
        "audio_seconds": round(first.json()["usage"]["seconds"]),
        "upload_mb": round(len(audio) / 2**20, 1),
        "first_run_seconds": round(first_seconds, 2),
        "cached_repeat_seconds": round(repeat_seconds, 3),
        "cache_speedup": round(first_seconds / repeat_seconds),
        "gave_up_after_seconds": give_up_after,
        "retry_wait_seconds": round(retry_seconds, 2),
        "give_up_and_retry_total_seconds": round(total_seconds, 2),
        "first_run_batches": int(first_batches),
        "give_up_and_retry_batches": int(retry_batches),
        "retry_attached": attached == 1,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--give-up-after", type=float, default=10.0, help="the first client's read timeout")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    cache = cache_dir()
    models_dir = ensure_model(cache).path.parent
    report = run(models_dir, recording(cache, 10), threads=args.threads, give_up_after=args.give_up_after)
    print(json.dumps(report, indent=2))
    if args.json is not None:
        write_json(args.json, report)


if __name__ == "__main__":
    main()
