"""The streams bench's many-core model: Amdahl's law through the 1- and 2-core speeds."""

from __future__ import annotations

from typing import Any, cast

from bench.streams import CASES, model


def rows(one: float, two: float) -> dict[int, Any]:
    return {row["cpus"]: row for row in cast(list[dict[str, Any]], model(one, two)["rows"])}


def test_perfect_scaling_gives_no_serial_share_and_linear_speeds() -> None:
    assert model(3.0, 6.0)["serial_share"] == 0.0
    sixteen = rows(3.0, 6.0)[16]
    assert (sixteen["auto_streams"], sixteen["threads_per_stream"]) == (2, 8)
    assert sixteen["one_job_one_stream_realtime"] == 48.0
    assert sixteen["one_job_auto_realtime"] == 24.0  # a job alone has one stream's threads
    assert sixteen["job_per_stream_auto_total_realtime"] == 48.0


def test_a_serial_share_makes_streams_pay_with_a_job_each() -> None:
    """r2 / r1 = 1.5: a third of a chunk's work is serial; two streams of 8 beat one stream of 16."""
    assert model(3.0, 4.5)["serial_share"] == 0.333
    sixteen = rows(3.0, 4.5)[16]
    assert sixteen["job_per_stream_auto_total_realtime"] > sixteen["one_job_one_stream_realtime"]
    assert sixteen["one_job_auto_realtime"] < sixteen["one_job_one_stream_realtime"]
    two = rows(3.0, 4.5)[2]
    assert two["auto_streams"] == 1 and two["one_job_auto_realtime"] == two["one_job_one_stream_realtime"]


def test_the_cases_pin_one_and_two_cores_and_compare_two_jobs_both_ways() -> None:
    assert [(c.cpus, c.threads * c.streams) for c in CASES[:2]] == [("0", 1), ("0,1", 2)]
    two_jobs = [(c.streams, c.threads) for c in CASES if c.jobs == 2]
    assert two_jobs == [(1, 2), (2, 1)]
