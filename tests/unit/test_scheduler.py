"""The inference scheduler: interactive first, round-robin, cancelled work never runs, stop cancels.

Every test holds the worker on a gate so that the queue is set up before anything runs; the order
of execution is then a property of the scheduler alone.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import CancelledError, Future

import pytest

from gigaam_api.pipeline.scheduler import InferenceScheduler, Ticket

WAIT = 10  # seconds: a generous bound on thread hand-offs, never a timing assertion


@pytest.fixture
def scheduler() -> Iterator[InferenceScheduler]:
    s = InferenceScheduler()
    yield s
    s.stop()


class Recorder:
    def __init__(self) -> None:
        self.ran: list[str] = []
        self.gate = threading.Event()
        self.holding = threading.Event()

    def hold(self) -> Callable[[], str]:
        """Work that blocks the worker until the gate opens."""

        def work() -> str:
            self.holding.set()
            assert self.gate.wait(WAIT)
            self.ran.append("hold")
            return "hold"

        return work

    def work(self, name: str) -> Callable[[], str]:
        def run() -> str:
            self.ran.append(name)
            return name

        return run


def hold_worker(scheduler: InferenceScheduler, recorder: Recorder) -> Future[str]:
    blocker = scheduler.open_ticket(interactive=False)
    future = scheduler.submit(blocker, recorder.hold())
    assert recorder.holding.wait(WAIT)
    return future


def wait_all(futures: list[Future[str]]) -> None:
    for future in futures:
        future.result(timeout=WAIT)


def test_interactive_jobs_go_before_queued_long_work(scheduler: InferenceScheduler) -> None:
    rec = Recorder()
    held = hold_worker(scheduler, rec)
    long_job = scheduler.open_ticket(interactive=False)
    futures = [scheduler.submit(long_job, rec.work(f"long{i}")) for i in range(3)]
    short_job = scheduler.open_ticket(interactive=True)
    futures.append(scheduler.submit(short_job, rec.work("short")))

    rec.gate.set()
    wait_all([held, *futures])

    assert rec.ran == ["hold", "short", "long0", "long1", "long2"]


def test_jobs_of_one_class_take_turns(scheduler: InferenceScheduler) -> None:
    rec = Recorder()
    held = hold_worker(scheduler, rec)
    a, b = scheduler.open_ticket(interactive=False), scheduler.open_ticket(interactive=False)
    futures = [
        scheduler.submit(job, rec.work(f"{name}{i}")) for i in range(2) for job, name in ((a, "a"), (b, "b"))
    ]

    rec.gate.set()
    wait_all([held, *futures])

    assert rec.ran == ["hold", "a0", "b0", "a1", "b1"]


def test_a_closed_job_never_runs_its_queued_work(scheduler: InferenceScheduler) -> None:
    rec = Recorder()
    held = hold_worker(scheduler, rec)
    job: Ticket = scheduler.open_ticket(interactive=False)
    queued = [scheduler.submit(job, rec.work(f"x{i}")) for i in range(3)]
    other = scheduler.open_ticket(interactive=False)
    after = scheduler.submit(other, rec.work("other"))

    scheduler.close_ticket(job)
    late = scheduler.submit(job, rec.work("late"))
    rec.gate.set()
    wait_all([held, after])

    assert rec.ran == ["hold", "other"]
    assert all(f.cancelled() for f in [*queued, late])


def test_stop_cancels_queued_work_and_ends_the_worker() -> None:
    scheduler = InferenceScheduler()
    rec = Recorder()
    held = hold_worker(scheduler, rec)
    job = scheduler.open_ticket(interactive=False)
    queued = scheduler.submit(job, rec.work("queued"))

    stopper = threading.Thread(target=scheduler.stop)
    stopper.start()
    rec.gate.set()
    stopper.join(WAIT)

    assert not stopper.is_alive()
    assert held.result(timeout=WAIT) == "hold"  # the running batch finishes
    with pytest.raises(CancelledError):
        queued.result(timeout=WAIT)
    assert rec.ran == ["hold"]
    assert scheduler.submit(job, rec.work("after stop")).cancelled()


def test_a_failing_batch_fails_its_future_only(scheduler: InferenceScheduler) -> None:
    def boom() -> str:
        raise RuntimeError("engine failed")

    job = scheduler.open_ticket(interactive=False)
    failed = scheduler.submit(job, boom)
    fine = scheduler.submit(job, lambda: "ok")

    with pytest.raises(RuntimeError, match="engine failed"):
        failed.result(timeout=WAIT)
    assert fine.result(timeout=WAIT) == "ok"
    assert scheduler.batches_run == 2


def test_idle_fires_once_per_quiet_spell_and_never_with_a_job_open() -> None:
    idle = threading.Event()
    calls: list[int] = []

    def on_idle() -> None:
        calls.append(1)
        idle.set()

    scheduler = InferenceScheduler(idle_seconds=0.01, on_idle=on_idle)
    try:
        assert idle.wait(WAIT)  # quiet from the start
        idle.clear()
        job = scheduler.open_ticket(interactive=False)
        scheduler.submit(job, lambda: "work").result(timeout=WAIT)
        # While the job is open (a long run waiting on its VAD, say) the model must stay loaded.
        assert not idle.wait(0.2)
        scheduler.close_ticket(job)
        assert idle.wait(WAIT)  # re-armed by the work, fired once the last job closed
    finally:
        scheduler.stop()
    assert len(calls) == 2


def _raise(*_: float) -> None:
    raise RuntimeError("hook failed")


def test_a_raising_hook_is_logged_and_the_worker_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    """A metric or an unload that fails must not end the one worker every queued run waits on."""
    idled = threading.Event()

    def on_idle() -> None:
        idled.set()
        raise RuntimeError("unload failed")

    scheduler = InferenceScheduler(on_batch=_raise, on_first_batch=_raise, idle_seconds=0.01, on_idle=on_idle)
    rec = Recorder()
    try:
        assert idled.wait(WAIT)  # the idle hook raised on the only worker
        for name in ("first", "second"):  # each ticket's first batch and every batch call both hooks
            job = scheduler.open_ticket(interactive=False)
            assert scheduler.submit(job, rec.work(name)).result(timeout=WAIT) == name
            scheduler.close_ticket(job)
    finally:
        scheduler.stop()
    assert rec.ran == ["first", "second"]
    failed = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert "inference scheduler: the on_idle hook failed" in failed
    assert "inference scheduler: the _raise hook failed" in failed
