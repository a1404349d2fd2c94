"""The one `stream=true` generator (api/event_stream.py), for live runs and for jobs' events."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence

import pytest

from gigaam_api.api.event_stream import Finished, StreamItem, event_stream
from gigaam_api.errors import APIError
from gigaam_api.options.transcription import TranscriptionOptions
from gigaam_api.pipeline.protocol import Progress
from gigaam_api.transcript import Segment

SEGMENTS = (Segment(0, 0.0, 1.0, "раз"), Segment(1, 1.0, 2.0, "два"), Segment(2, 2.0, 3.0, "три"))


async def _items(items: Sequence[StreamItem | APIError]) -> AsyncIterator[StreamItem]:
    for item in items:
        if isinstance(item, APIError):
            raise item
        yield item


def _collect(stream: AsyncIterator[bytes]) -> list[bytes]:
    async def run() -> list[bytes]:
        return [chunk async for chunk in stream]

    return asyncio.run(run())


def _payloads(chunks: list[bytes]) -> list[dict[str, object]]:
    lines = b"".join(chunks).decode().splitlines()
    return [json.loads(line[6:]) for line in lines if line.startswith("data: ")]


def test_segments_then_done_whose_text_the_deltas_add_up_to() -> None:
    items: list[StreamItem] = [*SEGMENTS, Finished(3.0, SEGMENTS)]
    events = _payloads(_collect(event_stream(_items(items), TranscriptionOptions(), keepalive=60)))
    assert [e["type"] for e in events] == ["transcript.text.delta", "transcript.text.segment"] * 3 + [
        "transcript.text.done"
    ]
    deltas = "".join(str(e["delta"]) for e in events if e["type"] == "transcript.text.delta")
    assert deltas == events[-1]["text"] == "раз два три"


def test_a_first_segment_without_text_puts_no_separator_before_the_next() -> None:
    """Silence first: the deltas spelled " два" where `done` says "два"."""
    segments = (Segment(0, 0.0, 1.0, ""), Segment(1, 1.0, 2.0, "два"), Segment(2, 2.0, 3.0, "три"))
    items: list[StreamItem] = [*segments, Finished(3.0, segments)]
    events = _payloads(_collect(event_stream(_items(items), TranscriptionOptions(), keepalive=60)))
    deltas = "".join(str(e["delta"]) for e in events if e["type"] == "transcript.text.delta")
    assert deltas == events[-1]["text"] == "два три"


def test_a_jobs_stream_has_event_ids_and_resends_nothing_the_client_saw() -> None:
    """After Last-Event-ID 3 (segment 1's delta), the stream goes on with segment 1's segment event;
    `done` still holds the whole text."""
    items: list[StreamItem] = [*SEGMENTS[1:], Finished(3.0, SEGMENTS)]
    chunks = _collect(
        event_stream(_items(items), TranscriptionOptions(), keepalive=60, event_ids=True, after=3)
    )
    text = b"".join(chunks).decode()
    ids = [int(line[4:]) for line in text.splitlines() if line.startswith("id: ")]
    assert ids == [4, 5, 6]
    events = _payloads(chunks)
    assert [e["type"] for e in events][:2] == ["transcript.text.segment", "transcript.text.delta"]
    assert events[1]["delta"] == " три" and events[-1]["text"] == "раз два три"


def test_an_error_from_the_source_ends_the_stream_with_its_event() -> None:
    gone = APIError(404, "The job was deleted.", code="job_not_found")
    events = _payloads(
        _collect(event_stream(_items([SEGMENTS[0], gone]), TranscriptionOptions(), keepalive=60))
    )
    assert events[-1] == {
        "error": {
            "message": "The job was deleted.",
            "type": "invalid_request_error",
            "param": None,
            "code": "job_not_found",
        }
    }


def test_a_stop_ends_the_stream_with_its_error() -> None:
    async def run() -> list[bytes]:
        stop = asyncio.Event()
        stop.set()
        never_ending = asyncio.Event()

        async def waits() -> AsyncIterator[StreamItem]:
            await never_ending.wait()
            yield SEGMENTS[0]

        error = APIError(503, "Shutting down.", type="server_error", code="shutting_down")
        stream = event_stream(waits(), TranscriptionOptions(), keepalive=60, stops=((stop, lambda: error),))
        return [chunk async for chunk in stream]

    events = _payloads(asyncio.run(run()))
    assert len(events) == 1 and events[0]["error"]["code"] == "shutting_down"  # type: ignore[index]


def test_progress_is_sent_only_on_request_and_spaced() -> None:
    items: list[StreamItem] = [
        Progress(0.0, None, 9.0),
        Progress(1.0, None),
        Progress(2.0, 3.0),
        Finished(3.0, ()),
    ]
    quiet = _payloads(_collect(event_stream(_items(items), TranscriptionOptions(), keepalive=60)))
    assert [e["type"] for e in quiet] == ["transcript.text.done"]
    options = TranscriptionOptions(include_progress=True)
    spaced = _payloads(_collect(event_stream(_items(items), options, keepalive=60, progress_seconds=3600)))
    assert spaced[0] == {
        "type": "transcript.progress",
        "processed_seconds": 0.0,
        "total_seconds": None,
        "estimated_total_seconds": 9.0,
    }
    assert [e["type"] for e in spaced] == ["transcript.progress", "transcript.text.done"]
    every = _payloads(_collect(event_stream(_items(items), options, keepalive=60)))
    assert [e["type"] for e in every].count("transcript.progress") == 3


@pytest.mark.timeout(60)
def test_a_keepalive_goes_out_while_only_unsent_progress_arrives() -> None:
    """Keep-alives count from the last byte sent, not from the last item: a run that reports progress
    (not asked for) more often than KEEPALIVE_SECONDS, and no segment, still keeps the connection alive.
    Nothing but a comment can ever be sent here, so the first chunk must be one."""

    async def run() -> bytes:
        async def progress_forever() -> AsyncIterator[StreamItem]:
            seconds = 0.0
            while True:
                seconds += 1.0
                yield Progress(seconds, None)
                await asyncio.sleep(0.001)

        stream = event_stream(progress_forever(), TranscriptionOptions(), keepalive=0.2)
        try:
            return await anext(stream)
        finally:
            await stream.aclose()  # type: ignore[attr-defined]

    assert asyncio.run(run()) == b": ping\n\n"
