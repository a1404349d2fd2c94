"""A real server bug still gets a 500 — in OpenAI's envelope, with the request id, logged once."""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import numpy as np
import numpy.typing as npt
import pytest

from gigaam_api.app import build_transcriber
from gigaam_api.config import Settings
from gigaam_api.engines.base import ASREngine, ChunkResult, EngineOptions
from gigaam_api.logs import request_id
from tests.fixtures.engines import WatchedEngine
from tests.fixtures.live_server import LiveServer, start_server


class BrokenEngine(WatchedEngine):
    """The real engine, except that every batch fails as a bug would."""

    def transcribe_batch(
        self, chunks: Sequence[npt.NDArray[np.float32]], options: EngineOptions
    ) -> list[ChunkResult]:
        raise RuntimeError("engine bug: /secret/path/model.onnx")


class RequestIdRecorder(logging.Handler):
    """Every log record with the request id of the context that logged it (what the log format shows)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[tuple[str, logging.LogRecord]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append((request_id.get(), record))


@pytest.fixture
def recorder() -> Iterator[RequestIdRecorder]:
    handler = RequestIdRecorder()
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield handler
    root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture
def broken_server(settings_factory: functools.partial[Settings]) -> Iterator[LiveServer]:
    def wrap(engine: ASREngine) -> ASREngine:
        return BrokenEngine(engine)

    live = start_server(settings_factory(), factory=functools.partial(build_transcriber, wrap_engine=wrap))
    yield live
    live.stop()


def test_engine_failure_is_one_logged_500_with_the_request_id(
    broken_server: LiveServer, recorder: RequestIdRecorder, audio_dir: Path
) -> None:
    with httpx.Client(timeout=60) as http:
        response = http.post(
            f"{broken_server.url}/v1/audio/transcriptions",
            files={"file": ("a.wav", (audio_dir / "greeting.wav").read_bytes())},
        )
        assert response.status_code == 500
        assert response.json() == {
            "error": {
                "message": "The server had an internal error.",
                "type": "server_error",
                "param": None,
                "code": None,
            }
        }
        rid = response.headers["x-request-id"]
        assert rid.startswith("req_")
        # The whole body was read, so the connection is still good for the next request.
        assert http.get(f"{broken_server.url}/health").status_code == 200
    ours = [record for logged_id, record in recorder.records if logged_id == rid]
    with_traceback = [record for _, record in recorder.records if record.exc_info]
    assert len(with_traceback) == 1 and with_traceback[0] in ours
    assert any("POST /v1/audio/transcriptions" in r.getMessage() and "500" in r.getMessage() for r in ours)
    strays = [
        r.getMessage()
        for logged_id, r in recorder.records
        if logged_id == "-" and r.name.startswith("uvicorn.error")
    ]
    assert not [m for m in strays if "Exception" in m or "ASGI" in m]
