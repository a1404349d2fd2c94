"""A progress bar per file on stderr (tqdm): position, speed in × realtime, time remaining."""

from __future__ import annotations

import os
import sys
from types import TracebackType

from tqdm import tqdm

_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s [{elapsed}<{remaining}{postfix}]"
_FORMAT_NO_TOTAL = "{desc}: {n:.0f} s [{elapsed}{postfix}]"  # until decoding has found the duration
# A terminal that reports no size (a bare pty, `script`) would get no bar at all (0 columns, 0 rows).
_FALLBACK_COLUMNS, _FALLBACK_ROWS = 100, 24


class FileProgress:
    """Audio seconds transcribed out of the file's duration (unknown until decoding has finished)."""

    def __init__(self, name: str, *, enabled: bool) -> None:
        sized = _terminal_columns() > 0
        self._bar = tqdm(
            desc=name,
            total=None,
            unit="s",
            bar_format=_FORMAT_NO_TOTAL,
            file=sys.stderr,
            disable=not enabled,
            dynamic_ncols=sized,
            ncols=None if sized else _FALLBACK_COLUMNS,
            nrows=None if sized else _FALLBACK_ROWS,
            leave=True,
        )

    def update(self, processed_seconds: float, total_seconds: float | None) -> None:
        bar = self._bar
        if bar.disable:
            return
        if total_seconds is not None and bar.total != total_seconds:
            bar.total = total_seconds
            bar.bar_format = _FORMAT
        elapsed = bar.format_dict["elapsed"]
        if elapsed > 0:
            bar.set_postfix_str(f"{processed_seconds / elapsed:.1f}× realtime", refresh=False)
        bar.update(processed_seconds - bar.n)

    def __enter__(self) -> FileProgress:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        bar = self._bar
        if exc is None and not bar.disable and bar.total:
            bar.update(bar.total - bar.n)  # the last batch ends where speech ends, not at the file's end
        bar.close()


def _terminal_columns() -> int:
    try:
        return os.get_terminal_size(sys.stderr.fileno()).columns
    except (OSError, ValueError):
        return 0
