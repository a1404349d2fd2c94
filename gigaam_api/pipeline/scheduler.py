"""The inference executor that interleaves runs fairly (admission is in `api/admission.py`).

One worker thread per inference stream (`cpus.plan_streams`: one on most machines, a few on many-core
ones) runs the batches; each stream's engine threads own its share of the cores, so more batches at once
would only fight over them. Each run queues its batches on a `Ticket` (not a durable job: those are
`jobs.model.Job`); a free worker picks the next one by class (short, direct requests and live sessions
first) and then round-robin among the tickets of that class, so a 10-second request never waits behind
more than the batches that are running. A ticket has at most one batch running, so its batches run in
the order they were queued, whatever the stream count.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Ticket:
    """One request's stream of batches. `interactive` tickets (short audio) go first."""

    id: int
    interactive: bool
    opened: float = field(default_factory=time.monotonic)
    started: bool = False  # has any of its work run yet
    running: bool = False  # one of its units runs now (the next waits for it: a run's batches keep order)
    cancelled: threading.Event = field(default_factory=threading.Event)
    pending: deque[tuple[Callable[[], Any], Future[Any]]] = field(default_factory=deque)

    def cancel(self) -> None:
        self.cancelled.set()


_IDLE = object()


class InferenceScheduler:
    """`on_batch(seconds)` hears each unit of work's duration; `on_first_batch(seconds)` each ticket's wait;
    `on_idle()` runs on a worker once none has had work for `idle_seconds` (again after new work), while
    no unit runs. A hook that raises is logged and its worker goes on: a metric or an unload that fails
    must not end a worker and leave the runs queued behind it waiting for ever. With `streams` > 1 up to
    that many units of different tickets run at once, so the engines' calls must then be safe on that
    many threads at once (`Capabilities.parallel_calls`)."""

    def __init__(
        self,
        *,
        on_batch: Callable[[float], None] | None = None,
        on_first_batch: Callable[[float], None] | None = None,
        idle_seconds: float | None = None,
        on_idle: Callable[[], None] | None = None,
        streams: int = 1,
    ) -> None:
        if streams < 1:
            raise ValueError("streams must be >= 1")
        self._on_batch = on_batch
        self._on_first_batch = on_first_batch
        self._idle_seconds = idle_seconds if on_idle is not None else None
        self._on_idle = on_idle
        self._last_work = time.monotonic()
        self._idle_told = False
        self._tickets: list[Ticket] = []  # order = round-robin order; served tickets move to the back
        self._cond = threading.Condition()
        self._ids = itertools.count(1)
        self._stopping = False
        self._running = 0  # units (or the idle callback, counted as every stream) running now
        self._streams = streams
        self.batches_run = 0  # across all tickets: an observable for /health and tests
        self._threads = [
            threading.Thread(target=self._run, name=f"inference-{i}", daemon=True) for i in range(streams)
        ]
        for thread in self._threads:
            thread.start()

    def open_ticket(self, *, interactive: bool) -> Ticket:
        ticket = Ticket(next(self._ids), interactive)
        with self._cond:
            self._tickets.append(ticket)
        return ticket

    def submit(self, ticket: Ticket, work: Callable[[], T]) -> Future[T]:
        """Queue one unit of work for `ticket`; it never starts once the ticket is cancelled."""
        future: Future[T] = Future()
        with self._cond:
            if self._stopping or ticket.cancelled.is_set():
                future.cancel()
                return future
            ticket.pending.append((work, future))
            self._cond.notify_all()  # any free worker may take it
        return future

    def close_ticket(self, ticket: Ticket) -> None:
        """Cancel what the ticket still has queued and forget it (the running batch, if any, finishes)."""
        ticket.cancel()
        with self._cond:
            if ticket in self._tickets:
                self._tickets.remove(ticket)
            while ticket.pending:
                ticket.pending.popleft()[1].cancel()
            self._cond.notify()  # the last ticket gone may start the quiet spell

    def stop(self) -> None:
        """Cancel everything queued and end every worker after its current batch."""
        with self._cond:
            self._stopping = True
            for ticket in self._tickets:
                ticket.cancel()
                while ticket.pending:
                    ticket.pending.popleft()[1].cancel()
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout=60)

    def _next(self) -> tuple[Ticket, Callable[[], Any], Future[Any]] | object | None:
        """The next unit of work, `_IDLE` when the quiet spell is over, None when stopping."""
        with self._cond:
            while True:
                if self._stopping:
                    return None
                ready = [j for j in self._tickets if j.pending and not j.running and not j.cancelled.is_set()]
                if ready and self._running < self._streams:
                    ticket = next((j for j in ready if j.interactive), ready[0])
                    work, future = ticket.pending.popleft()
                    self._tickets.remove(ticket)
                    self._tickets.append(ticket)
                    self._running += 1
                    ticket.running = True
                    return ticket, work, future
                timeout = None
                quiet = not self._tickets and not self._running
                if self._idle_seconds is not None and not self._idle_told and quiet:
                    timeout = self._last_work + self._idle_seconds - time.monotonic()
                    if timeout <= 0:
                        self._idle_told = True
                        self._running = self._streams  # no unit starts while the engines unload
                        return _IDLE
                self._cond.wait(timeout)

    def _run(self) -> None:
        while (item := self._next()) is not None:
            if item is _IDLE:
                assert self._on_idle is not None
                try:
                    _tell(self._on_idle)
                finally:
                    self._finished(None, self._streams)
                continue
            assert isinstance(item, tuple)
            ticket, work, future = item
            try:
                ran = self._execute(ticket, work, future)
            finally:
                self._finished(ticket, 1)
            if ran is not None and self._on_batch is not None:
                _tell(self._on_batch, ran)

    def _execute(self, ticket: Ticket, work: Callable[[], Any], future: Future[Any]) -> float | None:
        """Run one unit; its seconds, or None when it was cancelled before it began."""
        if ticket.cancelled.is_set() or not future.set_running_or_notify_cancel():
            return None
        began = time.monotonic()
        if not ticket.started:  # only this worker touches the ticket now (`running`)
            ticket.started = True
            if self._on_first_batch is not None:
                _tell(self._on_first_batch, began - ticket.opened)
        try:
            result = work()
        except BaseException as exc:
            future.set_exception(exc)
        else:
            future.set_result(result)
        ended = time.monotonic()
        with self._cond:
            self.batches_run += 1
            self._last_work = ended
            self._idle_told = False
        return ended - began

    def _finished(self, ticket: Ticket | None, units: int) -> None:
        with self._cond:
            self._running -= units
            if ticket is not None:
                ticket.running = False
            self._cond.notify_all()  # a waiting worker may now take work, or start the quiet spell


def _tell(hook: Callable[..., None], *args: float) -> None:
    """Call an observer hook; what it raises is logged, never raised into the worker."""
    try:
        hook(*args)
    except Exception:
        log.exception("inference scheduler: the %s hook failed", getattr(hook, "__name__", "observer"))
