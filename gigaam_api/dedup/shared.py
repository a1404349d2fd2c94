"""One run's events shared by every client that attaches to it, late ones included.

`SharedRun` reads the run once (its own task) and keeps every event; each `Subscription` replays
them from the first and then follows the live ones, so a stream that attaches late still gets every
segment. The run is closed when it ends, or when its last client leaves: at once if that client
cancelled (`DELETE /v1/audio/transcriptions/{id}`), else after `grace_seconds` (a client that timed out
may be retrying) unless `SharedRuns` needs its running slot sooner for a request waiting in line.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack

from gigaam_api.dedup.codec import Result
from gigaam_api.errors import APIError
from gigaam_api.pipeline.protocol import Run, RunEvent, SpeakerTurns
from gigaam_api.transcript import Segment

log = logging.getLogger(__name__)


def run_stopped() -> APIError:
    """What clients still attached hear when the run is stopped under them (only at shutdown)."""
    return APIError(
        503,
        "The transcription was stopped before it finished; retry the request.",
        type="server_error",
        code="run_stopped",
        headers={"Retry-After": "5"},
    )


class SharedRun:
    """Created before its source is known; then `begin` (a run), `complete` (a stored result) or `fail`."""

    def __init__(
        self,
        *,
        grace_seconds: float,
        on_result: Callable[[Result], Awaitable[None]] | None = None,
        on_end: Callable[[], None] | None = None,
        on_orphaned: Callable[[], None] | None = None,
    ) -> None:
        self._grace_seconds = grace_seconds
        self._on_result = on_result
        self._on_end = on_end
        self._on_orphaned = on_orphaned
        self._events: list[RunEvent] = []
        self._changed = asyncio.Event()  # replaced after every set: one pulse per change
        self._began = asyncio.Event()
        self._start_error: BaseException | None = None
        self._error: BaseException | None = None
        self._ended = False
        self._stopping = False
        self._reading = False  # cancelling a task before its first step would skip its clean-up
        self._run: Run | None = None
        self._duration: float | None = None
        self._language: str | None = None
        self._clients = 0
        self._linger: asyncio.TimerHandle | None = None
        self.orphaned_at: float | None = None  # loop time the last client left a run still going
        self._task: asyncio.Task[None] | None = None

    @property
    def clients(self) -> int:
        return self._clients

    @property
    def joinable(self) -> bool:
        """Whether a new client may still attach: not being stopped (its result would never come)."""
        return not self._stopping

    @property
    def orphaned(self) -> bool:
        """Running for nobody: lingering for a retry during the grace period, not yet being stopped."""
        return self.orphaned_at is not None and not self._stopping and not self._ended

    @property
    def stopping(self) -> bool:
        """Told to stop but not yet done: its running slot is about to be given back."""
        return self._stopping and self._task is not None and not self._task.done()

    @property
    def duration(self) -> float | None:
        if self._run is not None and not self._ended:
            return self._run.duration
        return self._duration

    @property
    def language(self) -> str | None:
        if self._run is not None and not self._ended:
            return self._run.language
        return self._language

    def subscribe(self, cancelled: asyncio.Event | None = None) -> Subscription:
        """A new client; `cancelled` set when it leaves means it cancelled (no grace for the run)."""
        self._clients += 1
        self.orphaned_at = None
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None
        return Subscription(self, cancelled)

    def begin(self, run: Run, cleanup: AsyncExitStack) -> None:
        """Read `run` in a task of its own; `cleanup` (the run, its slot, its files) runs at its end."""
        self._run = run
        self._task = asyncio.ensure_future(self._read(run, cleanup))
        self._began.set()

    def complete(self, result: Result) -> None:
        """A result known without running (the cache): every client replays it at once."""
        self._events.extend(result.segments)
        if result.turns is not None:
            self._events.append(SpeakerTurns(result.turns))
        self._duration, self._language = result.duration, result.language
        self._end(None)
        self._began.set()

    def fail(self, error: BaseException) -> None:
        """The run could not start: every client waiting gets the same error."""
        self._start_error = error if isinstance(error, Exception) else run_stopped()
        self._end(self._start_error)
        self._began.set()

    async def started(self) -> None:
        """Wait until the source is known; raise the start's error if it failed."""
        await self._began.wait()
        if self._start_error is not None:
            raise self._start_error

    async def stop(self) -> None:
        """Cancel the run now (shutdown, or nobody waits) and wait for its clean-up."""
        self.halt()
        if self._task is not None:
            await asyncio.wait({self._task})

    def halt(self) -> None:
        """Cancel the run now without waiting for its clean-up (its slot is wanted by a request in line)."""
        if self._linger is not None:
            self._linger.cancel()
        self._cancel()

    def _cancel(self) -> None:
        if self._stopping:
            return  # once: a second cancel would cut the clean-up short
        self._stopping = True
        if self._task is not None and self._reading:
            self._task.cancel()  # a task that has not run yet sees `_stopping` instead

    def _publish(self, event: RunEvent) -> None:
        self._events.append(event)
        self._changed.set()
        self._changed = asyncio.Event()

    def _end(self, error: BaseException | None) -> None:
        self._error = error
        self._ended = True
        self._changed.set()
        if self._linger is not None:
            self._linger.cancel()  # finished while lingering: nothing left to cancel

    async def _read(self, run: Run, cleanup: AsyncExitStack) -> None:
        self._reading = True
        try:
            try:
                if not self._stopping:
                    async for event in run.events():
                        self._publish(event)
                    self._duration, self._language = run.duration, run.language
                    self._end(None)
            except Exception as exc:
                self._end(exc)
            finally:
                if not self._ended:  # cancelled: nobody waited any more, or shutdown
                    self._end(run_stopped())
                self._run = None
                await cleanup.aclose()
            if self._error is None and self._on_result is not None:
                segments = tuple(e for e in self._events if isinstance(e, Segment))
                turns = next((e.turns for e in self._events if isinstance(e, SpeakerTurns)), None)
                await self._on_result(Result(segments, self._duration or 0.0, self._language, turns))
        finally:
            if self._on_end is not None:
                self._on_end()

    async def _leave(self, *, cancelled: bool) -> None:
        self._clients -= 1
        if self._clients > 0 or self._ended or self._task is None:
            return
        if cancelled or self._grace_seconds <= 0:
            await self.stop()
            return
        loop = asyncio.get_running_loop()
        self.orphaned_at = loop.time()
        self._linger = loop.call_later(self._grace_seconds, self._cancel)
        log.info("no client is waiting; the run goes on for up to %g s for a retry", self._grace_seconds)
        if self._on_orphaned is not None:
            self._on_orphaned()

    async def _follow(self) -> AsyncIterator[RunEvent]:
        await self.started()
        seen = 0
        while True:
            changed = self._changed
            while seen < len(self._events):
                seen += 1
                yield self._events[seen - 1]
            if self._ended:
                if self._error is not None:
                    raise self._error
                return
            await changed.wait()


class Subscription:
    """One client's view of a shared run, shaped as a `Run`: replayed events, then live ones."""

    def __init__(self, shared: SharedRun, cancelled: asyncio.Event | None = None) -> None:
        self._shared = shared
        self._cancelled = cancelled
        self._closed = False

    @property
    def duration(self) -> float | None:
        return self._shared.duration

    @property
    def language(self) -> str | None:
        return self._shared.language

    def events(self) -> AsyncIterator[RunEvent]:
        return self._shared._follow()

    async def started(self) -> None:
        await self._shared.started()

    async def aclose(self) -> None:
        """Detach (once); the last client to leave ends the run: at once if it cancelled, else after the
        grace period (or sooner, when a request in line needs the run's slot)."""
        if not self._closed:
            self._closed = True
            cancelled = self._cancelled is not None and self._cancelled.is_set()
            await self._shared._leave(cancelled=cancelled)
