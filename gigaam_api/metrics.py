"""Prometheus metrics of one server: throughput (audio vs processing seconds), queue, batches, spool, errors.

Each app gets its own registry, so several servers in one process (the tests) never share counters.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "gigaam_http_requests", "HTTP requests by route and status", ["route", "status"], registry=r
        )
        self.errors = Counter(
            "gigaam_http_errors", "Error responses by OpenAI error code (or status)", ["code"], registry=r
        )
        self.audio_seconds = Counter(
            "gigaam_audio_seconds", "Seconds of audio in finished transcriptions", registry=r
        )
        self.processing_seconds = Counter(
            "gigaam_processing_seconds",
            "Wall-clock seconds from the start of a transcription to its last result "
            "(audio_seconds / processing_seconds = x realtime)",
            registry=r,
        )
        self.queue_wait = Histogram(
            "gigaam_queue_wait_seconds",
            "Time from the start of a transcription (running slot taken) to its first inference batch",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_seconds = Histogram(
            "gigaam_batch_seconds",
            "Duration of one inference batch",
            ["engine"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.model_load_seconds = Gauge(
            "gigaam_model_load_seconds", "How long the last model load took", ["model"], registry=r
        )
        self.model_loaded = Gauge("gigaam_model_loaded", "1 while the model is loaded", ["model"], registry=r)
        self.cache_hits = Counter(
            "gigaam_cache_hits", "Transcriptions answered from the result cache", registry=r
        )
        self.cache_misses = Counter(
            "gigaam_cache_misses", "Result cache lookups that found nothing", registry=r
        )
        self.dedup_attached = Counter(
            "gigaam_dedup_attached",
            "Requests that attached to an identical transcription already in flight",
            registry=r,
        )
        self.live_utterances = Counter(
            "gigaam_live_utterances",
            "Live utterances transcribed, by whether the client was still there to receive the text",
            ["delivered"],
            registry=r,
        )
        self.line_wait = Histogram(
            "gigaam_line_wait_seconds",
            "Time a complete upload waited in line for a running slot (MAX_RUNNING)",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self._queue_length = Gauge(
            "gigaam_queue_length", "Transcriptions waiting in line for a running slot", registry=r
        )
        self._running = Gauge("gigaam_running", "Transcriptions running (holding a running slot)", registry=r)
        self._spool_bytes = Gauge(
            "gigaam_spool_bytes", "Bytes of uploads and decoded audio on disk", registry=r
        )

    def watch(
        self,
        *,
        queue_length: Callable[[], float],
        running: Callable[[], float],
        spool_bytes: Callable[[], float],
    ) -> None:
        """Gauges read at scrape time from the live objects."""
        self._queue_length.set_function(queue_length)
        self._running.set_function(running)
        self._spool_bytes.set_function(spool_bytes)

    def watch_jobs(self, *, disk_bytes: Callable[[], float]) -> None:
        """Job gauges: JOBS_DIR's size at scrape time; the store's are set by `jobs_seen` before it."""
        self._jobs = Gauge("gigaam_jobs", "Jobs in the store by status", ["status"], registry=self.registry)
        self._store_up = Gauge(
            "gigaam_jobs_store_up", "1 if the job store answered the last scrape", registry=self.registry
        )
        disk = Gauge(
            "gigaam_jobs_disk_bytes", "Bytes under JOBS_DIR (job audio, SQLite)", registry=self.registry
        )
        disk.set_function(disk_bytes)

    def jobs_seen(self, counts: Mapping[Any, int] | None) -> None:
        """The store's job counts, or None when it did not answer (the counts keep their last values)."""
        self._store_up.set(counts is not None)
        for status, count in (counts or {}).items():
            self._jobs.labels(status).set(count)

    def finished(self, audio_seconds: float, wall_seconds: float) -> None:
        """One transcription delivered its last result."""
        self.audio_seconds.inc(audio_seconds)
        self.processing_seconds.inc(wall_seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
