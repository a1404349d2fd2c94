"""`Last-Event-ID` on /v1/jobs/{id}/events, on both stores: an id the stream sent, or a 400.

A negative id once replayed invented ids (Redis counted it from the end of the list, SQLite shifted
every id), and a huge one gave a 200 and a cut connection.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from tests.fixtures.jobs import job_events, submit, wait_finished
from tests.fixtures.live_server import LiveServer


@pytest.fixture(params=["sqlite", "redis"])
def jobs_server(request: pytest.FixtureRequest, make_server: Callable[..., LiveServer]) -> LiveServer:
    if request.param == "sqlite":
        return make_server()
    url: str = request.getfixturevalue("redis_url")
    redis.Redis.from_url(url).flushdb()
    return make_server(JOBS_REDIS_URL=url)


def _events_response(live: LiveServer, job_id: str, last_event_id: bytes) -> httpx.Response:
    return httpx.get(
        f"{live.url}/v1/jobs/{job_id}/events", headers=[(b"Last-Event-ID", last_event_id)], timeout=60
    )


def test_only_ids_the_stream_sent_are_accepted(jobs_server: LiveServer, audio_dir: Path) -> None:
    live = jobs_server
    job = submit(live.url, audio_dir / "weather.wav")
    assert wait_finished(live.url, job["id"])["status"] == "succeeded"
    full = job_events(live.url, job["id"])
    last = len(full) - 1  # every event but `done` has an id: 1..last
    assert [event_id for event_id, _ in full[:-1]] == [str(n) for n in range(1, last + 1)]
    assert job_events(live.url, job["id"], "0") == full
    assert job_events(live.url, job["id"], str(last)) == full[-1:]  # all seen: only `done`
    bad: list[Any] = ["-5", "-100000000", str(2**63), str(last + 1), "1.5", "abc", "+1", "01", "1 2", b"\xb2"]
    for value in bad:
        header = value if isinstance(value, bytes) else value.encode()
        response = _events_response(live, job["id"], header)
        assert response.status_code == 400, (value, response.text[:200])
        error = response.json()["error"]
        assert error["code"] == "invalid_last_event_id" and error["param"] == "Last-Event-ID", error
        assert f"from 0 to {last}" in error["message"]
