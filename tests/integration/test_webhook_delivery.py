"""Webhook delivery on a real server: concurrent (a hung receiver holds no other job's callback), one
delivery id for every attempt and re-send, and `POST /v1/jobs/{id}/webhook` to send an ended job's again.

The hung receiver answers only when the test releases it, and the attempt timeout is far longer than the
test: the other job's callback can only arrive while the hung one is still open if they are concurrent.
"""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from gigaam_api.jobs.webhooks import DELIVERY_HEADER, SIGNATURE_HEADER, verify
from tests.fixtures.jobs import get_job, submit, wait_for_job
from tests.fixtures.live_server import LiveServer
from tests.fixtures.waiting import wait_until

SECRET = "test-webhook-secret"
KEY, OTHER_KEY = "key-a", "key-b"


class _Receiver(http.server.ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Hook)
        self.received: list[tuple[str, dict[str, str], bytes]] = []
        self.statuses = {"/quick": [500]}  # then 200
        self.hung = threading.Event()
        self.release = threading.Event()


class _Hook(http.server.BaseHTTPRequestHandler):
    server: _Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append((self.path, dict(self.headers), body))
        if self.path == "/hung":
            self.server.hung.set()
            self.server.release.wait(300)  # a bound for a broken test only: the test releases it
        statuses = self.server.statuses.get(self.path, [])
        self.send_response(statuses.pop(0) if statuses else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, _Receiver]]:
    server = _Receiver()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", server
    server.release.set()
    server.shutdown()


def _resend(live: LiveServer, job_id: str, key: str = KEY) -> httpx.Response:
    return httpx.post(
        f"{live.url}/v1/jobs/{job_id}/webhook", headers={"Authorization": f"Bearer {key}"}, timeout=30
    )


def test_webhooks_are_concurrent_idempotent_and_can_be_sent_again(
    make_server: Callable[..., LiveServer], audio_dir: Path, receiver: tuple[str, _Receiver]
) -> None:
    base, hooks = receiver
    live = make_server(
        API_KEY=f"{KEY},{OTHER_KEY}",
        JOBS_WEBHOOK_HOSTS="127.0.0.1",
        JOBS_WEBHOOK_SECRET=SECRET,
        JOBS_WEBHOOK_BACKOFF_SECONDS=0.05,
        JOBS_WEBHOOK_TIMEOUT_SECONDS=600,
        JOBS_POLL_SECONDS=0.05,
    )
    audio = audio_dir / "weather.wav"
    hung = submit(live.url, audio, key=KEY, callback_url=f"{base}/hung")
    wait_until(hooks.hung.is_set, "the hung receiver has the first job's webhook")

    quick = submit(live.url, audio, key=KEY, callback_url=f"{base}/quick")
    delivered = wait_for_job(
        live.url,
        quick["id"],
        "has its webhook delivered",
        lambda j: j["webhook"]["state"] == "delivered",
        key=KEY,
    )
    assert delivered["webhook"]["attempts"] == 2  # a 500, then a 200
    # Still the first attempt, neither answered nor timed out: the two were sent side by side.
    assert get_job(live.url, hung["id"], key=KEY)["webhook"] == {
        "url": f"{base}/hung",
        "state": "pending",
        "attempts": 1,
        "last_status": None,
        "last_error": None,
    }

    assert _resend(live, quick["id"], key=OTHER_KEY).status_code == 404  # another key's job
    again = _resend(live, quick["id"])
    assert again.status_code == 202 and again.json()["webhook"]["state"] == "pending"
    wait_for_job(
        live.url,
        quick["id"],
        "has its webhook delivered again",
        lambda j: j["webhook"]["state"] == "delivered",
        key=KEY,
    )
    sent = [(headers, body) for path, headers, body in hooks.received if path == "/quick"]
    assert len(sent) == 3
    ids = {headers[DELIVERY_HEADER] for headers, _ in sent}
    assert len(ids) == 1 and ids != {""}  # one event, however often it is sent
    assert all(verify(SECRET, headers[SIGNATURE_HEADER], body, now=time.time()) for headers, body in sent)
    hung_id = next(h[DELIVERY_HEADER] for path, h, _ in hooks.received if path == "/hung")
    assert hung_id not in ids

    plain = submit(live.url, audio, key=KEY)
    wait_for_job(live.url, plain["id"], "ends", lambda j: j["status"] == "succeeded", key=KEY)
    refused = _resend(live, plain["id"])
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "no_webhook"
    hooks.release.set()


def test_a_webhook_is_not_sent_again_before_its_job_ends(
    make_server: Callable[..., LiveServer], audio_dir: Path, receiver: tuple[str, _Receiver]
) -> None:
    base, _ = receiver
    live = make_server(
        API_KEY=KEY, JOBS_WEBHOOK_HOSTS="127.0.0.1", JOBS_WEBHOOK_SECRET=SECRET, JOBS_WORKERS=0
    )
    queued = submit(live.url, audio_dir / "weather.wav", key=KEY, callback_url=f"{base}/quick")
    refused = _resend(live, queued["id"])
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "job_not_ended"
    assert get_job(live.url, queued["id"], key=KEY)["webhook"]["state"] == "waiting"
