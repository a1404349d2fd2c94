"""Transcribe planned files one after another with one loaded model; report each, then a summary."""

from __future__ import annotations

import asyncio
import os
import secrets
import stat
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from gigaam_api.audio.spool import SpoolDir
from gigaam_api.cli_transcribe.plan import Task
from gigaam_api.cli_transcribe.progress import FileProgress
from gigaam_api.config import Settings
from gigaam_api.engines.base import EngineOptions
from gigaam_api.engines.glossary import Glossaries
from gigaam_api.errors import APIError
from gigaam_api.formats.languages import language_name
from gigaam_api.formats.render import ResponseFormat, render
from gigaam_api.options.engine import engine_options
from gigaam_api.options.transcription import TranscriptionOptions
from gigaam_api.pipeline.protocol import Progress, SpeakerTurns, Transcriber
from gigaam_api.speakers.options import DiarizationOptions
from gigaam_api.speakers.turns import attribute
from gigaam_api.transcript import Segment, Transcript

_NO_OPTIONS = TranscriptionOptions()


@dataclass
class Outcome:
    planned: int = 0  # files in the plan; more than done + failed when Ctrl-C stopped the run
    interrupted: bool = False
    done: int = 0
    failed: list[str] = field(default_factory=list)
    audio_seconds: float = 0.0
    wall_seconds: float = 0.0  # from the model being loaded to the last file's end


def transcribe_files(
    settings: Settings,
    tasks: list[Task],
    fmt: ResponseFormat,
    *,
    words: bool,
    show_progress: bool,
    options: TranscriptionOptions = _NO_OPTIONS,
    diarization: DiarizationOptions | None = None,
) -> Outcome:
    """With `diarization`, each result names its speakers (docs/speakers.md).

    Runs until every file is done or has failed, or Ctrl-C: then the current file's run is closed, its
    spool files are removed (asyncio.run cancels the task on SIGINT), and the outcome says `interrupted`
    and what had finished."""
    outcome = Outcome(planned=len(tasks))
    try:
        asyncio.run(
            _transcribe_all(
                outcome,
                settings,
                tasks,
                fmt,
                words=words,
                show_progress=show_progress,
                options=options,
                diarization=diarization,
            )
        )
    except KeyboardInterrupt:
        outcome.interrupted = True
    return outcome


async def _transcribe_all(
    outcome: Outcome,
    settings: Settings,
    tasks: list[Task],
    fmt: ResponseFormat,
    *,
    words: bool,
    show_progress: bool,
    options: TranscriptionOptions,
    diarization: DiarizationOptions | None,
) -> None:
    from gigaam_api.pipeline.assembly import build_transcriber  # loads the inference libraries

    runnable = [t for t in tasks if t.source.problem is None]
    for task in tasks:
        if task.source.problem is not None:
            _fail(outcome, task.source.path, task.source.problem)
    if not runnable:
        return
    transcriber, stop = await asyncio.to_thread(build_transcriber, settings)
    spool = SpoolDir.claim(settings.SPOOL_DIR)
    started = time.monotonic()
    try:
        caps = transcriber.capabilities
        glossary = Glossaries(settings.KEYWORDS_FILE).phrases(caps.keyword_letters) if caps.keywords else ()
        requested = engine_options(options, caps, glossary, default_numbers=settings.NUMBERS)
        for task in runnable:
            try:
                body, duration = await _transcribe_one(
                    transcriber,
                    spool,
                    task,
                    fmt,
                    requested,
                    words=words,
                    logprobs=options.include_logprobs,
                    show_progress=show_progress,
                    diarization=diarization,
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


async def _transcribe_one(
    transcriber: Transcriber,
    spool: SpoolDir,
    task: Task,
    fmt: ResponseFormat,
    requested: EngineOptions,
    *,
    words: bool,
    logprobs: bool,
    show_progress: bool,
    diarization: DiarizationOptions | None,
) -> tuple[bytes, float]:
    segments: list[Segment] = []
    with spool.files() as files, FileProgress(task.source.path.name, enabled=show_progress) as bar:
        run = await transcriber.start(task.source.path, files, requested, diarization=diarization)
        try:
            async for event in run.events():
                if isinstance(event, Segment):
                    segments.append(event)
                elif isinstance(event, SpeakerTurns):
                    segments = attribute(segments, event.turns, first_id=0)
                elif isinstance(event, Progress):
                    bar.update(event.processed_seconds, event.total_seconds)
        finally:
            await run.aclose()
    duration = run.duration or 0.0
    separator = transcriber.capabilities.separator(run.language)
    transcript = Transcript(tuple(segments), duration, language_name(run.language), separator)
    return render(transcript, fmt, words=words, logprobs=logprobs).content, duration


def _write(body: bytes, destination: Path | None, fmt: ResponseFormat) -> None:
    """To stdout, or to a file that appears complete or not at all (written aside, then renamed)."""
    if destination is None:
        sys.stdout.buffer.write(body + (b"\n" if fmt in ("json", "verbose_json") else b""))
        sys.stdout.buffer.flush()
        return
    destination.parent.mkdir(parents=True, exist_ok=True)
    temporary, fd = _create_beside(destination)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(body)
        os.replace(temporary, destination)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _create_beside(destination: Path) -> tuple[Path, int]:
    """A new file next to `destination` with the mode the result should have: the mode of the file it
    replaces, else what the process umask gives a new file (mkstemp's 0600 would hide subtitles from a
    media server or a web server that reads them)."""
    try:
        keep: int | None = stat.S_IMODE(destination.stat().st_mode)
    except FileNotFoundError:
        keep = None
    temporary = destination.with_name(f".{destination.name}.{secrets.token_hex(8)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the kernel applies the umask
    if keep is not None:
        os.fchmod(fd, keep)
    return temporary, fd


def _fail(outcome: Outcome, path: Path, reason: str) -> None:
    outcome.failed.append(str(path))
    print(f"gigaam-api: {path}: {reason}", file=sys.stderr)


def summary(outcome: Outcome) -> str:
    finished = outcome.done + len(outcome.failed)
    if finished < outcome.planned:  # interrupted
        line = f"{finished} of {outcome.planned} files: {outcome.done} transcribed"
    else:
        line = f"{finished} file{'s' if finished != 1 else ''}: {outcome.done} transcribed"
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
