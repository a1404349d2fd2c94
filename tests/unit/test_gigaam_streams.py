"""GigaAM's inference streams: each call takes a free recogniser (ONNX Runtime: a session per stream), and
OpenVINO is compiled with one CPU stream per inference stream, or exactly as before with one."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt
from onnx_asr.asr import TimestampedResult

from gigaam_api.cpus import StreamPlan
from gigaam_api.engines.base import EngineOptions
from gigaam_api.engines.gigaam.adapter import GigaamEngine
from gigaam_api.engines.gigaam.openvino import compile_options
from gigaam_api.engines.gigaam.runtime import RuntimeChoice
from tests.fixtures.engines import capabilities
from tests.fixtures.waiting import HANG_GUARD_SECONDS

WAIT = HANG_GUARD_SECONDS  # a hang guard only: never a timing assertion
CPU = RuntimeChoice("openvino", "cpu", "int8", "test")
CHUNK = [np.zeros(16000, np.float32)]


class MeetingRecognizer:
    """Each call waits for a second call to be inside some recogniser at the same time."""

    def __init__(self, name: str, both_inside: threading.Barrier) -> None:
        self.name = name
        self.both_inside = both_inside
        self.calls = 0

    def recognize(
        self, waveforms: Sequence[str | Path | npt.NDArray[np.float32]], sample_rate: int
    ) -> list[TimestampedResult]:
        self.calls += 1
        self.both_inside.wait(WAIT)  # breaks (and fails the call) unless two calls overlap
        return [TimestampedResult(self.name, [], [], []) for _ in waveforms]


def test_two_calls_run_at_once_each_on_its_own_recognizer() -> None:
    both_inside = threading.Barrier(2)
    recognizers = [MeetingRecognizer("a", both_inside), MeetingRecognizer("b", both_inside)]
    engine = GigaamEngine(cast(Any, recognizers), {}, capabilities(parallel_calls=True, streams=2))
    with ThreadPoolExecutor(2) as pool:
        calls = [pool.submit(engine.transcribe_batch, CHUNK, EngineOptions()) for _ in range(2)]
        texts = sorted(call.result(timeout=WAIT)[0].text for call in calls)
    assert texts == ["a", "b"]
    assert [r.calls for r in recognizers] == [1, 1]


def test_with_one_recognizer_a_second_call_waits_for_the_first() -> None:
    inside = threading.Event()
    release = threading.Event()
    order: list[str] = []

    class Held:
        def recognize(
            self, waveforms: Sequence[str | Path | npt.NDArray[np.float32]], sample_rate: int
        ) -> list[TimestampedResult]:
            order.append("enter")
            inside.set()
            assert release.wait(WAIT)
            order.append("leave")
            return [TimestampedResult("x", [], [], []) for _ in waveforms]

    engine = GigaamEngine(cast(Any, [Held()]), {}, capabilities(parallel_calls=True))
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(engine.transcribe_batch, CHUNK, EngineOptions())
        assert inside.wait(WAIT)
        second = pool.submit(engine.transcribe_batch, CHUNK, EngineOptions())
        release.set()
        assert first.result(timeout=WAIT)[0].text == second.result(timeout=WAIT)[0].text == "x"
    assert order == ["enter", "leave", "enter", "leave"]


def test_one_stream_compiles_as_before_streams_existed() -> None:
    """Every 2-core box: the latency hint's single stream on every thread, no NUM_STREAMS."""
    options = compile_options(CPU, StreamPlan(1, 2))
    assert options["INFERENCE_NUM_THREADS"] == 2
    assert "NUM_STREAMS" not in options
    assert options["PERFORMANCE_HINT"] == "LATENCY"


def test_several_streams_compile_one_cpu_stream_each_with_its_threads() -> None:
    options = compile_options(CPU, StreamPlan(4, 16))
    assert options["NUM_STREAMS"] == 4
    assert options["INFERENCE_NUM_THREADS"] == 64


def test_a_gpu_gets_no_cpu_threads_or_streams() -> None:
    options = compile_options(RuntimeChoice("openvino", "gpu", "fp16", "test"), StreamPlan(1, 8))
    assert "NUM_STREAMS" not in options and "INFERENCE_NUM_THREADS" not in options
