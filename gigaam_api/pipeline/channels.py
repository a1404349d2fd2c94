"""A stereo call transcribed channel by channel: each channel one speaker, their segments in time order.

`per_channel` diarization needs no speaker model: a call recorder puts each side on its own channel.
Each channel is a `PipelineRun` of its own (its own decoding of that channel, VAD and batches); this
run merges their segments by start time, labels them by channel (`A` left, `B` right) and renumbers
them. The labels are final as they stream, so no `SpeakerTurns` follows.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import replace
from typing import Final

from gigaam_api.pipeline.protocol import Progress, Run, RunEvent
from gigaam_api.speakers.turns import speaker_label
from gigaam_api.transcript import Segment

CHANNELS: Final = 2


class ChannelRuns:
    """One run per channel, read as one: `Run`'s shape."""

    def __init__(self, runs: Sequence[Run]) -> None:
        self._runs = list(runs)

    @property
    def duration(self) -> float | None:
        durations = [r.duration for r in self._runs]
        return None if None in durations else max(d or 0.0 for d in durations)

    @property
    def language(self) -> str | None:
        return next((r.language for r in self._runs if r.language), None)

    async def events(self) -> AsyncGenerator[RunEvent, None]:
        sources = [_Channel(run.events(), speaker_label(i)) for i, run in enumerate(self._runs)]
        next_id = 0
        while True:
            for source in sources:
                while source.head is None and not source.ended:
                    progress = await source.advance()
                    if progress is not None:  # the audio both channels have done
                        yield Progress(
                            min(s.processed for s in sources),
                            progress.total_seconds,
                            progress.estimated_total_seconds,
                        )
            waiting = [s for s in sources if s.head is not None]
            if not waiting:
                return
            earliest = min(waiting, key=lambda s: s.head.start if s.head else 0.0)
            segment, earliest.head = earliest.head, None
            assert segment is not None
            yield replace(segment, id=next_id, speaker=earliest.label)
            next_id += 1

    async def aclose(self) -> None:
        for run in self._runs:
            await run.aclose()


class _Channel:
    """One channel's events, pulled one segment ahead."""

    def __init__(self, events: AsyncIterator[RunEvent], label: str) -> None:
        self._events = events
        self.label = label
        self.head: Segment | None = None
        self.ended = False
        self.processed = 0.0

    async def advance(self) -> Progress | None:
        """Read the next event: a segment becomes the head; a progress event is returned."""
        try:
            event = await anext(self._events)
        except StopAsyncIteration:
            self.ended = True
            self.processed = float("inf")
            return None
        if isinstance(event, Segment):
            self.head = event
            return None
        if isinstance(event, Progress):
            self.processed = event.processed_seconds
            return event
        return None  # no SpeakerTurns: a channel's run is not diarized
