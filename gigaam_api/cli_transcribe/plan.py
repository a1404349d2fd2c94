"""Which files to read, in which format, and where each result goes. Pure but for globbing."""

from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path

from gigaam_api.formats.render import ResponseFormat

EXTENSIONS: dict[ResponseFormat, str] = {
    "text": ".txt",
    "json": ".json",
    "verbose_json": ".json",
    "diarized_json": ".json",
    "srt": ".srt",
    "vtt": ".vtt",
}
# An output file's extension picks the format: `.json` is the API's `json`, as the name says.
FORMAT_OF_EXTENSION: dict[str, ResponseFormat] = {
    ".txt": "text",
    ".json": "json",
    ".srt": "srt",
    ".vtt": "vtt",
}
DEFAULT_FORMAT: ResponseFormat = "text"
_GLOB_CHARS = frozenset("*?[")


class UsageError(Exception):
    """The command line cannot work as given (exit 2); the message says why."""


@dataclass(frozen=True, slots=True)
class Source:
    """One input: a file to transcribe, or an argument that names none (`problem` says why)."""

    path: Path
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class Task:
    source: Source
    destination: Path | None  # None: standard output


def expand(arguments: list[str]) -> list[Source]:
    """Files as given; glob patterns (for shells that do not expand them) as the sorted files they match."""
    sources: list[Source] = []
    for argument in arguments:
        path = Path(argument)
        if not path.exists() and _GLOB_CHARS & set(argument):
            matches = sorted(Path(m) for m in glob.glob(argument, recursive=True) if Path(m).is_file())
            sources.extend(Source(m) for m in matches)
            if not matches:
                sources.append(Source(path, "no file matches this pattern"))
        elif path.is_dir():
            sources.append(Source(path, "is a directory"))
        elif not path.exists():
            sources.append(Source(path, "no such file"))
        else:
            sources.append(Source(path))
    return sources


def choose_format(flag: ResponseFormat | None, output: Path | None) -> ResponseFormat:
    """The `--format` flag, else the output file's extension, else text."""
    if flag is not None:
        return flag
    if output is not None and _is_file_name(output):
        return FORMAT_OF_EXTENSION[output.suffix.lower()]
    return DEFAULT_FORMAT


def plan(sources: list[Source], fmt: ResponseFormat, output: Path | None) -> list[Task]:
    """Where each result goes: `-o FILE` (one input), `-o DIR`, stdout (one input), or beside its source."""
    if output is not None and _is_file_name(output):
        if len(sources) != 1:
            raise UsageError(
                f"-o {output} names one file, but there are {len(sources)} inputs; give a directory"
            )
        return [Task(sources[0], output)]
    if output is None and len(sources) == 1:
        return [Task(sources[0], None)]
    tasks = [Task(s, (output or s.path.parent) / (s.path.stem + EXTENSIONS[fmt])) for s in sources]
    seen: dict[Path, Path] = {}
    for task in tasks:
        assert task.destination is not None
        if task.source.problem is None and task.destination == task.source.path:
            raise UsageError(f"{task.source.path}: the result would overwrite the input; use -o DIR")
        if task.destination in seen and task.source.problem is None:
            raise UsageError(
                f"{seen[task.destination]} and {task.source.path} would both write {task.destination}; "
                "use -o DIR with distinct names"
            )
        if task.source.problem is None:
            seen[task.destination] = task.source.path
    return tasks


def _is_file_name(output: Path) -> bool:
    """`-o out.srt` is a file; anything else (an existing directory, no known extension) a directory."""
    return not output.is_dir() and output.suffix.lower() in FORMAT_OF_EXTENSION
