"""Translation at the edge: a transcript or a stream of segments, with the texts in `options.translate`;
and a job's transcript with the texts its background translation stored (`jobs.translating`).

The transcription is whatever the pipeline gave; only the segments' texts go to
the LLM (`gigaam_api.translation`) and the bodies are rendered by our own formats with the original
times, so the LLM can never break a subtitle file.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping

from gigaam_api.api.event_stream import Finished, StreamItem
from gigaam_api.api.state import AppState
from gigaam_api.formats.languages import language_name
from gigaam_api.options.transcription import TranscriptionOptions
from gigaam_api.transcript import Segment, Transcript
from gigaam_api.translation import errors
from gigaam_api.translation.translator import Translator, separator, translated


def translator_of(state: AppState) -> Translator:
    """The server's translator; 501 `translation_not_configured` (saying how to enable it) if off."""
    if state.translator is None:
        raise errors.not_configured()
    return state.translator


async def translated_transcript(
    transcript: Transcript, translator: Translator, options: TranscriptionOptions
) -> Transcript:
    target = _target(options)
    segments = await translator.translate(
        transcript.segments, target, prompt=options.prompt, temperature=options.temperature
    )
    return Transcript(
        tuple(segments), transcript.duration, language_name(target), separator(target), task="translate"
    )


async def translated_items(
    source: AsyncIterator[StreamItem], translator: Translator, options: TranscriptionOptions
) -> AsyncIterator[StreamItem]:
    """`source` with its segments translated a batch at a time, each batch sent on as soon as it is
    back; progress passes through; `Finished` carries every segment translated (a job's stream resumed
    after Last-Event-ID has the earlier ones translated there)."""
    target = _target(options)
    texts: dict[int, str] = {}
    pending: list[Segment] = []

    async def flush(segments: list[Segment]) -> list[Segment]:
        done = await translator.translate(
            segments, target, prompt=options.prompt, temperature=options.temperature
        )
        texts.update((s.id, s.text) for s in done)
        return done

    async for item in source:
        if isinstance(item, Segment):
            pending.append(item)
            if len(pending) >= translator.batch_segments:
                for segment in await flush(pending):
                    yield segment
                pending = []
        elif isinstance(item, Finished):
            for segment in await flush(pending):
                yield segment
            untranslated = [s for s in item.segments if s.id not in texts]
            if untranslated:
                await flush(untranslated)
            # The final segments (a diarized run's relabelled speakers) with the translated texts.
            yield Finished(item.duration, [translated(s, texts.get(s.id, s.text)) for s in item.segments])
        else:
            yield item


async def read_ahead(
    source: AsyncIterator[StreamItem], on_end: Callable[[], Awaitable[None]]
) -> AsyncGenerator[StreamItem, None]:
    """`source` read to its end at its own pace, not the LLM's, then `on_end` (the run's clean-up, so
    its running slot is free while the last batches are translated). A run pauses while nobody reads
    it; what is read ahead is at most the transcript, which is kept anyway."""
    queue: asyncio.Queue[StreamItem | BaseException | None] = asyncio.Queue()

    async def pump() -> None:
        try:
            async for item in source:
                queue.put_nowait(item)
            await on_end()
            queue.put_nowait(None)
        except Exception as exc:
            queue.put_nowait(exc)

    task = asyncio.ensure_future(pump())
    try:
        while (item := await queue.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def stored_translation(transcript: Transcript, target: str, texts: Mapping[int, str]) -> Transcript:
    """`transcript` with the texts a job stored translated into `target` (by segment id)."""
    segments = tuple(translated(s, texts.get(s.id, s.text)) for s in transcript.segments)
    return Transcript(
        segments, transcript.duration, language_name(target), separator(target), task="translate"
    )


def target_separator(options: TranscriptionOptions) -> str:
    """What joins the translated texts (the stream's deltas and its `done`)."""
    return separator(_target(options))


def _target(options: TranscriptionOptions) -> str:
    assert options.translate is not None, "asked only for options with a target language"
    return options.translate
