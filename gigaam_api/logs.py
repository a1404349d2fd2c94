"""Logging set-up: text or JSON lines, each carrying the id of the request it belongs to.

Everything goes through the one handler: uncaught exceptions of worker threads (`threading.excepthook`)
and of the main thread (`sys.excepthook`), and Python warnings too, so no raw traceback ever lands on
stderr and JSON output stays JSON.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from contextvars import ContextVar
from types import TracebackType

request_id: ContextVar[str] = ContextVar("request_id", default="-")


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str, fmt: str) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(_RequestIdFilter())
    if fmt == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Every record goes through the root's one handler: uvicorn's loggers, and py.warnings, to which
    # transformers (Qwen3-ASR) gives a handler and a level of its own.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "py.warnings"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
        logger.setLevel(logging.NOTSET)
        logger.disabled = False
    # Off, then on: a second configuration (the CLI after a library, a test after another) would keep
    # whatever `warnings.showwarning` was set since the first, and warnings would bypass the log.
    logging.captureWarnings(False)
    logging.captureWarnings(True)
    threading.excepthook = log_thread_exception
    sys.excepthook = log_uncaught_exception


def log_thread_exception(args: threading.ExceptHookArgs) -> None:
    """`threading.excepthook`: a thread's uncaught exception becomes one log record, not stderr text."""
    if args.exc_type is SystemExit:
        return
    name = args.thread.name if args.thread is not None else "?"
    error = args.exc_value if args.exc_value is not None else args.exc_type()
    logging.getLogger("gigaam_api.threads").error("uncaught exception in thread %s", name, exc_info=error)


def log_uncaught_exception(
    exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
) -> None:
    """`sys.excepthook`: the main thread's last words as a log record (Ctrl-C keeps Python's own)."""
    if issubclass(exc_type, KeyboardInterrupt):
        sys.__excepthook__(exc_type, exc, tb)
        return
    logging.getLogger("gigaam_api").critical("uncaught exception", exc_info=(exc_type, exc, tb))
