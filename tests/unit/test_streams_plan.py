"""How many inference streams, and threads each, on made-up machines (cpus.plan_streams and its callers)."""

from __future__ import annotations

import os
from typing import Literal

import pytest

from gigaam_api import cpus
from gigaam_api.config import ConfigError, load_settings
from gigaam_api.cpus import StreamPlan, plan_streams
from gigaam_api.pipeline.devices import streams_by_device
from tests.fixtures.engines import capabilities

GIGAAM = capabilities(parallel_calls=True)
QWEN = capabilities(model_id="qwen3-asr-0.6b", runtime="transformers")  # cannot run two calls at once


@pytest.mark.parametrize(
    ("threads", "plan"),
    [
        (1, StreamPlan(1, 1)),
        (2, StreamPlan(1, 2)),  # this machine, every 2-core box: today's single stream, every thread
        (3, StreamPlan(1, 3)),
        (4, StreamPlan(1, 4)),
        (8, StreamPlan(1, 8)),
        (15, StreamPlan(1, 15)),
        (16, StreamPlan(2, 8)),
        (24, StreamPlan(3, 8)),
        (20, StreamPlan(2, 10)),
        (32, StreamPlan(4, 8)),
        (64, StreamPlan(4, 16)),  # at most four: the rest go to each stream's threads
        (256, StreamPlan(4, 64)),
    ],
)
def test_auto_keeps_eight_threads_a_stream_and_at_most_four(threads: int, plan: StreamPlan) -> None:
    assert plan_streams(threads, "auto", parallel_calls=True) == plan


@pytest.mark.parametrize(
    ("threads", "requested", "plan"),
    [
        (2, 2, StreamPlan(2, 1)),  # the bench's two streams of one thread on two cores
        (2, 1, StreamPlan(1, 2)),
        (64, 1, StreamPlan(1, 64)),  # one fat stream on a big machine
        (8, 2, StreamPlan(2, 4)),
        (16, 3, StreamPlan(3, 5)),  # the odd thread stays unused rather than unbalance the streams
        (2, 4, StreamPlan(2, 1)),  # never more streams than threads
        (1, 64, StreamPlan(1, 1)),
    ],
)
def test_a_stream_count_overrides_auto(threads: int, requested: int, plan: StreamPlan) -> None:
    assert plan_streams(threads, requested, parallel_calls=True) == plan


@pytest.mark.parametrize("requested", ["auto", 4])
def test_an_engine_that_cannot_run_two_calls_at_once_or_a_gpu_gets_one_stream_of_every_thread(
    requested: int | Literal["auto"],
) -> None:
    assert plan_streams(64, requested, parallel_calls=False) == StreamPlan(1, 64)
    assert plan_streams(64, requested, parallel_calls=True, cpu=False) == StreamPlan(1, 64)


@pytest.mark.parametrize(
    ("affinity", "quotas", "num_threads", "plan"),
    [
        (2, [], None, StreamPlan(1, 2)),
        (16, [], None, StreamPlan(2, 8)),
        (64, [], None, StreamPlan(4, 16)),
        (16, [2.5], None, StreamPlan(1, 2)),  # a container with `cpus: 2.5` on a 16-core host
        (64, [None, 24.0], None, StreamPlan(3, 8)),  # a parent slice's quota
        (64, [], "4", StreamPlan(1, 4)),  # NUM_THREADS is the budget the streams share
        (4, [], "32", StreamPlan(4, 8)),  # ... even above the CPUs, as the operator asked
    ],
)
def test_the_settings_on_a_machine(
    monkeypatch: pytest.MonkeyPatch,
    affinity: int,
    quotas: list[float | None],
    num_threads: str | None,
    plan: StreamPlan,
) -> None:
    """The usable CPUs (affinity, quotas) or NUM_THREADS, split by the engine's plan (GigaAM on the CPU)."""
    from gigaam_api.engines.gigaam.adapter import stream_plan
    from gigaam_api.engines.gigaam.runtime import RuntimeChoice

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(affinity)))
    monkeypatch.setattr(cpus, "read_quotas", lambda dirs: quotas)
    monkeypatch.delenv("INFERENCE_STREAMS", raising=False)
    if num_threads is None:
        monkeypatch.delenv("NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("NUM_THREADS", num_threads)
    settings = load_settings(_env_file=None)
    for runtime in ("onnxruntime", "openvino"):
        assert stream_plan(settings, RuntimeChoice(runtime, "cpu", "int8", "test")) == plan
    cuda = RuntimeChoice("onnxruntime", "cuda", "fp32", "test")
    assert stream_plan(settings, cuda) == StreamPlan(1, settings.NUM_THREADS)


def test_inference_streams_is_auto_or_a_positive_count() -> None:
    assert load_settings(_env_file=None).INFERENCE_STREAMS == "auto"
    assert load_settings(_env_file=None, INFERENCE_STREAMS="3").INFERENCE_STREAMS == 3
    for bad in ("0", "-1", "many", "65"):
        with pytest.raises(ConfigError, match="INFERENCE_STREAMS"):
            load_settings(_env_file=None, INFERENCE_STREAMS=bad)


def test_a_device_keeps_one_stream_when_one_of_its_engines_cannot_run_two_calls() -> None:
    assert streams_by_device(16, "auto", [GIGAAM]) == {"cpu": 2}
    assert streams_by_device(16, "auto", [GIGAAM, QWEN]) == {"cpu": 1}
    assert streams_by_device(16, 4, [QWEN]) == {"cpu": 1}
    gpu_qwen = capabilities(model_id="qwen3-asr-0.6b", device="cuda")
    assert streams_by_device(16, "auto", [GIGAAM, gpu_qwen]) == {"cpu": 2, "cuda": 1}
    assert streams_by_device(2, "auto", [GIGAAM]) == {"cpu": 1}
