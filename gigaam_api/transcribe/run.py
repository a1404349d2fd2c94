"""Transcribe planned files one after another with one loaded model; report each, then a summary."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from gigaam_api.audio.spool import SpoolDir
from gigaam_api.config import Settings
from gigaam_api.engines.base import EngineOptions
from gigaam_api.errors import APIError
from gigaam_api.formats.languages import language_name
from gigaam_api.formats.render import ResponseFormat, render
from gigaam_api.pipeline.protocol import Progress, Transcriber
from gigaam_api.transcribe.plan import Task
from gigaam_api.transcribe.progress import FileProgress
from gigaam_api.transcript import Segment, Transcript


@dataclass
class Outcome:
    done: int = 0
    failed: list[str] = field(default_factory=list)
    audio_seconds: float = 0.0
    wall_seconds: float = 0.0  # from the model being loaded to the last file's end


def transcribe_files(
    settings: Settings, tasks: list[Task], fmt: ResponseFormat, *, words: bool, show_progress: bool
) -> Outcome:
    """Runs until every file is done or has failed. Ctrl-C raises KeyboardInterrupt after the current
    file's run is closed and its spool files are removed (asyncio.run cancels the task on SIGINT)."""
    return asyncio.run(_transcribe_all(settings, tasks, fmt, words=words, show_progress=show_progress))


async def _transcribe_all(
    settings: Settings, tasks: list[Task], fmt: ResponseFormat, *, words: bool, show_progress: bool
) -> Outcome:
    from gigaam_api.app import build_transcriber  # loads the inference libraries

    outcome = Outcome()
    runnable = [t for t in tasks if t.source.problem is None]
    for task in tasks:
        if task.source.problem is not None:
            _fail(outcome, task.source.path, task.source.problem)
    if not runnable:
        return outcome
    transcriber, stop = await asyncio.to_thread(build_transcriber, settings)
    spool = SpoolDir.claim(settings.SPOOL_DIR)
    started = time.monotonic()
    try:
        for task in runnable:
            try:
                body, duration = await _transcribe_one(
                    transcriber, spool, task, fmt, words=words, show_progress=show_progress
                )
                _write(body, task.destination, fmt)
            except APIError as exc:
                _fail(outcome, task.source.path, exc.message)
            except OSError as exc:
                _fail(outcome, task.source.path, exc.strerror or str(exc))
            else:
                outcome.done += 1
                outcome.audio_seconds += duration
    finally:
        outcome.wall_seconds = time.monotonic() - started
        await asyncio.to_thread(stop)
        spool.close()
    return outcome


async def _transcribe_one(
    transcriber: Transcriber,
    spool: SpoolDir,
    task: Task,
    fmt: ResponseFormat,
    *,
    words: bool,
    show_progress: bool,
) -> tuple[bytes, float]:
    segments: list[Segment] = []
    with spool.files() as files, FileProgress(task.source.path.name, enabled=show_progress) as bar:
        run = await transcriber.start(task.source.path, files, EngineOptions())
        try:
            async for event in run.events():
                if isinstance(event, Segment):
                    segments.append(event)
                elif isinstance(event, Progress):
                    bar.update(event.processed_seconds, event.total_seconds)
        finally:
            await run.aclose()
    duration = run.duration or 0.0
    transcript = Transcript(tuple(segments), duration, language_name(run.language))
    return render(transcript, fmt, words=words).content, duration


def _write(body: bytes, destination: Path | None, fmt: ResponseFormat) -> None:
    """To stdout, or to a file that appears complete or not at all (written aside, then renamed)."""
    if destination is None:
        sys.stdout.buffer.write(body + (b"\n" if fmt in ("json", "verbose_json") else b""))
        sys.stdout.buffer.flush()
        return
    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{destination.name}.", dir=destination.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(body)
        os.replace(temporary, destination)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _fail(outcome: Outcome, path: Path, reason: str) -> None:
    outcome.failed.append(str(path))
    print(f"gigaam-api: {path}: {reason}", file=sys.stderr)


def summary(outcome: Outcome) -> str:
    files = outcome.done + len(outcome.failed)
    line = f"{files} file{'s' if files != 1 else ''}: {outcome.done} transcribed"
    if outcome.failed:
        line += f", {len(outcome.failed)} failed"
    if outcome.audio_seconds and outcome.wall_seconds > 0:
        speed = outcome.audio_seconds / outcome.wall_seconds
        audio, wall = _clock(outcome.audio_seconds), _clock(outcome.wall_seconds)
        line += f"; {audio} of audio in {wall} ({speed:.1f}× realtime)"
    return line


def _clock(seconds: float) -> str:
    s = round(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
