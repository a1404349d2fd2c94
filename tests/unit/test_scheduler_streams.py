"""The scheduler's inference streams: long tickets' units run side by side on two streams and never on one,
a ticket's own units never overlap, short work still goes first, and idle and stop wait for every stream.

Units block on gates that only the test opens; what ran (or was reached) before a gate opened is then a
property of the scheduler alone. No test sleeps or times anything.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import CancelledError

import pytest

from gigaam_api.pipeline.scheduler import InferenceScheduler
from tests.fixtures.waiting import HANG_GUARD_SECONDS

WAIT = HANG_GUARD_SECONDS  # a hang guard only: never a timing assertion


class Gate:
    """A unit that says when it has started, then waits until the test opens it."""

    def __init__(self, name: str, log: list[str]) -> None:
        self.name = name
        self.reached = threading.Event()
        self.opened = threading.Event()
        self._log = log

    def __call__(self) -> str:
        self._log.append(f"{self.name} started")
        self.reached.set()
        assert self.opened.wait(WAIT), f"the test never opened {self.name}"
        self._log.append(f"{self.name} ended")
        return self.name


def instant(name: str, log: list[str]) -> Callable[[], str]:
    def run() -> str:
        log.append(name)
        return name

    return run


def test_two_streams_run_two_long_tickets_at_once() -> None:
    """Both units reach their gates before either is opened: they run at the same time."""
    scheduler = InferenceScheduler(streams=2)
    log: list[str] = []
    a, b = Gate("a", log), Gate("b", log)
    try:
        futures = [scheduler.submit(scheduler.open_ticket(interactive=False), g) for g in (a, b)]
        assert a.reached.wait(WAIT) and b.reached.wait(WAIT)
        a.opened.set()
        b.opened.set()
        assert [f.result(timeout=WAIT) for f in futures] == ["a", "b"]
    finally:
        scheduler.stop()


def test_one_stream_never_overlaps_two_tickets() -> None:
    """With one stream the second ticket's unit starts only after the first one ended."""
    scheduler = InferenceScheduler(streams=1)
    log: list[str] = []
    a, b = Gate("a", log), Gate("b", log)
    try:
        first = scheduler.submit(scheduler.open_ticket(interactive=False), a)
        second = scheduler.submit(scheduler.open_ticket(interactive=False), b)
        assert a.reached.wait(WAIT)
        assert not b.reached.is_set()
        a.opened.set()
        b.opened.set()
        assert first.result(timeout=WAIT) == "a" and second.result(timeout=WAIT) == "b"
    finally:
        scheduler.stop()
    assert log == ["a started", "a ended", "b started", "b ended"]


def test_a_third_long_ticket_waits_for_a_free_stream_and_short_work_goes_before_it() -> None:
    scheduler = InferenceScheduler(streams=2)
    log: list[str] = []
    a, b = Gate("a", log), Gate("b", log)
    try:
        held = [scheduler.submit(scheduler.open_ticket(interactive=False), g) for g in (a, b)]
        assert a.reached.wait(WAIT) and b.reached.wait(WAIT)
        third = scheduler.submit(scheduler.open_ticket(interactive=False), instant("third", log))
        short = scheduler.submit(scheduler.open_ticket(interactive=True), instant("short", log))
        assert not third.done() and not short.done()  # both streams are taken
        a.opened.set()  # one stream frees: the short ticket takes it although the third came first
        assert short.result(timeout=WAIT) == "short"
        assert third.result(timeout=WAIT) == "third"
        assert "b ended" not in log  # all of it while b still held the other stream
        b.opened.set()
        assert [f.result(timeout=WAIT) for f in held] == ["a", "b"]
    finally:
        scheduler.stop()
    assert sorted(log[:2]) == ["a started", "b started"]
    assert log[2:] == ["a ended", "short", "third", "b ended"]


def test_a_tickets_units_run_in_order_one_at_a_time_while_another_stream_is_free() -> None:
    """The second stream serves another ticket, never the next unit of a ticket whose unit runs."""
    scheduler = InferenceScheduler(streams=2)
    log: list[str] = []
    first = Gate("job0", log)
    try:
        job = scheduler.open_ticket(interactive=False)
        units = [scheduler.submit(job, first), scheduler.submit(job, instant("job1", log))]
        assert first.reached.wait(WAIT)
        other = scheduler.submit(scheduler.open_ticket(interactive=False), instant("other", log))
        assert other.result(timeout=WAIT) == "other"  # a stream was free all along
        assert not units[1].done()
        first.opened.set()
        assert [u.result(timeout=WAIT) for u in units] == ["job0", "job1"]
    finally:
        scheduler.stop()
    assert log == ["job0 started", "other", "job0 ended", "job1"]


def test_a_cancelled_ticket_never_starts_its_queued_units_on_any_stream() -> None:
    scheduler = InferenceScheduler(streams=2)
    log: list[str] = []
    a, b = Gate("a", log), Gate("b", log)
    try:
        job = scheduler.open_ticket(interactive=False)
        held = [scheduler.submit(job, a), scheduler.submit(scheduler.open_ticket(interactive=False), b)]
        queued = [scheduler.submit(job, instant(f"job{i}", log)) for i in range(3)]
        assert a.reached.wait(WAIT) and b.reached.wait(WAIT)
        scheduler.close_ticket(job)
        a.opened.set()
        b.opened.set()
        assert [f.result(timeout=WAIT) for f in held] == ["a", "b"]  # the running unit finishes
        for future in queued:
            with pytest.raises(CancelledError):
                future.result(timeout=WAIT)
    finally:
        scheduler.stop()
    assert sorted(log) == ["a ended", "a started", "b ended", "b started"]


def test_idle_waits_for_every_stream_and_no_unit_starts_while_it_runs() -> None:
    """The quiet spell (which unloads the engines) holds queued work back while it runs, and waits for a
    unit still running on one stream after the other stream and every ticket are done."""
    log: list[str] = []
    idle_entered = threading.Event()
    idle_release = threading.Event()

    def on_idle() -> None:
        log.append("idle")
        idle_entered.set()
        assert idle_release.wait(WAIT)

    scheduler = InferenceScheduler(streams=2, idle_seconds=0.0, on_idle=on_idle)
    slow = Gate("slow", log)
    try:
        assert idle_entered.wait(WAIT)  # quiet from the start
        idle_entered.clear()
        job, live = scheduler.open_ticket(interactive=False), scheduler.open_ticket(interactive=True)
        blocked = scheduler.submit(job, slow)
        short = scheduler.submit(live, instant("short", log))
        assert not slow.reached.is_set() and not short.done()  # both streams wait for the idle callback
        idle_release.set()
        assert slow.reached.wait(WAIT)
        assert short.result(timeout=WAIT) == "short"
        scheduler.close_ticket(live)
        scheduler.close_ticket(job)  # no ticket left, but slow still runs: no quiet spell yet
        slow.opened.set()
        assert blocked.result(timeout=WAIT) == "slow"
        assert idle_entered.wait(WAIT)  # once it ended
    finally:
        scheduler.stop()
    assert log[0] == "idle" and sorted(log[1:3]) == ["short", "slow started"]
    assert log[3:] == ["slow ended", "idle"]


def test_stop_waits_for_every_stream_and_cancels_the_rest() -> None:
    scheduler = InferenceScheduler(streams=2)
    log: list[str] = []
    a, b = Gate("a", log), Gate("b", log)
    held = [scheduler.submit(scheduler.open_ticket(interactive=False), g) for g in (a, b)]
    assert a.reached.wait(WAIT) and b.reached.wait(WAIT)
    queued = scheduler.submit(scheduler.open_ticket(interactive=False), instant("queued", log))
    cancelled = threading.Event()
    queued.add_done_callback(lambda _: cancelled.set())
    stopped = threading.Event()

    def stop() -> None:
        scheduler.stop()
        stopped.set()

    stopper = threading.Thread(target=stop)
    stopper.start()
    assert cancelled.wait(WAIT)  # stop has cancelled the queue before a stream frees
    a.opened.set()
    assert held[0].result(timeout=WAIT) == "a"
    assert not stopped.is_set()  # b's stream still runs
    b.opened.set()
    stopper.join(WAIT)
    assert stopped.is_set()
    assert held[1].result(timeout=WAIT) == "b"
    assert queued.cancelled()
    assert "queued" not in log


def test_a_stream_count_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="streams"):
        InferenceScheduler(streams=0)
