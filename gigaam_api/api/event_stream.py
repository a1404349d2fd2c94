"""The `stream=true` event stream: one generator for a live run and for a job's events.

A source yields what happened (segments, progress, then `Finished`) or raises an `APIError`; the
stream frames it as SSE: a delta and a segment event per segment, progress on request, a keep-alive
comment whenever nothing was sent for `keepalive` seconds, then `done` or an error event. When one of
`stops` is set (the shutdown grace is over, a DELETE), the stream ends with that stop's error.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

from gigaam_api.audio.spool import SpoolFullError
from gigaam_api.errors import APIError, disk_full, is_disk_full, spool_full
from gigaam_api.formats import sse
from gigaam_api.formats.response_bodies import JSONObject, logprob_entries, transcript_logprobs
from gigaam_api.options.transcription import TranscriptionOptions
from gigaam_api.pipeline.protocol import Progress, Run, SpeakerTurns
from gigaam_api.speakers.turns import attribute
from gigaam_api.transcript import WORD_SEPARATOR, Segment, join_texts

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Finished:
    """The transcript is complete: every segment (also those sent before a reconnect) and its length."""

    duration: float
    segments: Sequence[Segment]


StreamItem = Segment | Progress | Finished
Stop = tuple[asyncio.Event, Callable[[], APIError]]  # when the event is set, the stream ends with the error


async def run_items(run: Run) -> AsyncIterator[StreamItem]:
    """A live run as a stream source. A diarized run's segments stream with their online speakers; its
    final turns relabel them for `Finished` (what a job stores; the stream's `done` has only the text)."""
    segments: list[Segment] = []
    async for event in run.events():
        if isinstance(event, SpeakerTurns):
            segments = attribute(segments, event.turns, first_id=0)
            continue
        if isinstance(event, Segment):
            segments.append(event)
        yield event
    yield Finished(run.duration or 0.0, segments)


async def event_stream(
    source: AsyncIterator[StreamItem],
    options: TranscriptionOptions,
    *,
    keepalive: float,
    progress_seconds: float = 0.0,
    stops: Sequence[Stop] = (),
    event_ids: bool = False,
    after: int = 0,
    separator: Callable[[], str] = lambda: WORD_SEPARATOR,
) -> AsyncIterator[bytes]:
    """`separator()` goes between two segments' texts (the engine's rule for the language it used,
    known once the first segment is out). With `event_ids` (a job's stream), segment i's delta has id
    2i+1 and its segment event 2i+2, and a delta whose id is at most `after` (the client's
    Last-Event-ID) is not sent again."""
    queue: asyncio.Queue[StreamItem | BaseException | None] = asyncio.Queue()

    async def pump() -> None:
        try:
            async for item in source:
                await queue.put(item)
            await queue.put(None)
        except Exception as exc:
            await queue.put(exc)

    async def stop_on(event: asyncio.Event, error: Callable[[], APIError]) -> None:
        await event.wait()
        await queue.put(error())

    tasks = [asyncio.ensure_future(pump()), *(asyncio.ensure_future(stop_on(*stop)) for stop in stops)]
    words = "word" in options.timestamp_granularities
    joins = _Joins()
    next_progress = 0.0  # the first progress event (the audio's length) goes out at once
    sent_at = time.monotonic()
    try:
        while True:
            try:
                wait = max(0.0, sent_at + keepalive - time.monotonic())
                async with asyncio.timeout(wait):
                    item = await queue.get()
            except TimeoutError:
                sent_at = time.monotonic()
                yield sse.comment()
                continue
            if item is None:
                return
            if isinstance(item, BaseException):
                yield sse.event(_error_payload(item))
                return
            if isinstance(item, Segment):
                follows = joins.follows(item)
                text = separator() + item.text if follows else item.text
                delta_id = 2 * item.id + 1 if event_ids else None
                if delta_id is None or delta_id > after:
                    logprobs = _delta_logprobs(item, follows) if options.include_logprobs else None
                    yield sse.event(sse.delta(text, segment_id=item.id, logprobs=logprobs), event_id=delta_id)
                segment_id = 2 * item.id + 2 if event_ids else None
                yield sse.event(sse.segment(item, words=words), event_id=segment_id)
            elif isinstance(item, Progress):
                if not options.include_progress or time.monotonic() < next_progress:
                    continue
                next_progress = time.monotonic() + progress_seconds
                yield sse.event(
                    sse.progress(item.processed_seconds, item.total_seconds, item.estimated_total_seconds)
                )
            else:
                yield sse.event(_done(item, options, separator()))
                return
            sent_at = time.monotonic()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class _Joins:
    """Deltas concatenate to `done`: the separator goes before a text that follows another text."""

    def __init__(self) -> None:
        self._text_before = False
        self._started = False

    def follows(self, segment: Segment) -> bool:
        # A stream resumed after Last-Event-ID starts past segments (with text) it does not repeat.
        self._text_before = self._text_before or (segment.id > 0 and not self._started)
        self._started = True
        follows = bool(segment.text) and self._text_before
        self._text_before = self._text_before or bool(segment.text)
        return follows


def _delta_logprobs(segment: Segment, follows: bool) -> list[JSONObject]:
    """A delta's tokens, spelling its text (a later segment's starts with the joining space): all the
    deltas' together are the done event's `logprobs`."""
    if not segment.text.strip():
        return []
    return logprob_entries(segment.logprobs, leading_space=follows)


def _done(finished: Finished, options: TranscriptionOptions, separator: str) -> dict[str, object]:
    segments = finished.segments
    payload = sse.done(
        join_texts((s.text for s in segments), separator),
        usage_seconds=finished.duration,
        output_tokens=sum(len(s.tokens) for s in segments),
        logprobs=transcript_logprobs(segments) if options.include_logprobs else None,
    )
    if any(s.speaker for s in segments):
        # Diarized: the segments with their final speakers (the streamed ones had online labels), for a
        # client that shows the stream and keeps the result, as the web page does. An extra field.
        words = "word" in options.timestamp_granularities
        payload["segments"] = [sse.segment(s, words=words) for s in segments if s.text.strip()]
    return payload


def _error_payload(exc: BaseException) -> dict[str, object]:
    if isinstance(exc, SpoolFullError):
        exc = spool_full()
    if is_disk_full(exc):
        exc = disk_full()
    if isinstance(exc, APIError):
        return sse.error(exc.message, exc.type, exc.code)
    log.error("transcription failed after the stream started", exc_info=exc)
    return sse.error("The transcription failed because of an internal error.", "server_error")
