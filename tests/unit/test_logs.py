"""Logging: worker threads' uncaught exceptions and warnings go through the configured handler."""

from __future__ import annotations

import json
import logging
import sys
import threading
import warnings
from collections.abc import Iterator

import pytest

from gigaam_api.logs import configure_logging


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level, hooks = root.handlers[:], root.level, (threading.excepthook, sys.excepthook)
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    threading.excepthook, sys.excepthook = hooks
    logging.captureWarnings(False)


def _crash() -> None:
    raise OSError("disk gone")


@pytest.mark.usefixtures("restore_logging")
def test_a_thread_crash_is_one_json_record(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json")

    thread = threading.Thread(target=_crash, name="decode")
    thread.start()
    thread.join()
    with warnings.catch_warnings():
        # Shown whatever filters the libraries imported earlier in the session installed.
        warnings.simplefilter("always")
        warnings.warn("something odd", UserWarning, stacklevel=1)

    lines = capsys.readouterr().err.splitlines()
    records = [json.loads(line) for line in lines]
    crash, warning = records
    assert crash["level"] == "ERROR" and crash["logger"] == "gigaam_api.threads"
    assert crash["message"] == "uncaught exception in thread decode"
    assert "OSError: disk gone" in crash["exception"]
    assert warning["logger"] == "py.warnings" and "something odd" in warning["message"]


@pytest.mark.usefixtures("restore_logging")
def test_a_thread_crash_in_text_format_carries_the_request_id_column(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO", "text")

    thread = threading.Thread(target=_crash, name="vad")
    thread.start()
    thread.join()

    first, *trace = capsys.readouterr().err.splitlines()
    assert "ERROR [-] gigaam_api.threads: uncaught exception in thread vad" in first
    assert trace[-1] == "OSError: disk gone"
    assert not any(line.startswith("Exception in thread") for line in trace)


@pytest.mark.usefixtures("restore_logging")
def test_a_main_thread_crash_is_one_json_record(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json")

    try:
        _crash()
    except OSError:
        sys.excepthook(*sys.exc_info())  # what the interpreter does with an exception nobody caught

    (record,) = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert record["level"] == "CRITICAL" and record["message"] == "uncaught exception"
    assert "OSError: disk gone" in record["exception"]


@pytest.mark.usefixtures("restore_logging")
def test_a_second_configuration_takes_warnings_back_from_whoever_took_them(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A library (or pytest) that set `warnings.showwarning` after the first configuration kept it."""
    foreign: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        configure_logging("INFO", "json")
        warnings.showwarning = lambda message, *_args, **_kwargs: foreign.append(str(message))
        configure_logging("INFO", "json")
        warnings.warn("after the second start", UserWarning, stacklevel=1)

    records = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert foreign == []
    assert [r["logger"] for r in records] == ["py.warnings"]
