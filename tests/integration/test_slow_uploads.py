"""Slow, stalled and too many uploads: they hold upload slots, never running slots, and are cut with 408."""

from __future__ import annotations

import select
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.fixtures.live_server import LiveServer
from tests.fixtures.raw_http import RawConnection, RawResponse, field_part, file_part, multipart
from tests.fixtures.waiting import HANG_GUARD_SECONDS, wait_until

BOUNDARY = b"slow-upload-boundary"
TRANSCRIPTIONS = "/v1/audio/transcriptions"


class SlowUpload:
    """A raw connection that declares a 300 KB multipart body and sends it in a trickle from a thread:
    at `fast_rate` bytes/s until `slow_down` is set, then one byte every `slow_interval` seconds."""

    def __init__(
        self,
        url: str,
        *,
        fast_rate: float,
        slow_interval: float,
        slow_down: threading.Event,
        source: str | None = None,
    ) -> None:
        self.body = multipart([file_part(bytes(300_000))], BOUNDARY)
        self.conn = RawConnection(url, source=source)
        self.conn.send_head(
            "POST",
            TRANSCRIPTIONS,
            [
                ("Content-Type", f"multipart/form-data; boundary={BOUNDARY.decode()}"),
                ("Content-Length", str(len(self.body))),
            ],
        )
        self.fast_rate = fast_rate
        self.slow_interval = slow_interval
        self.slow_down = slow_down
        self.answered = threading.Event()
        self.thread = threading.Thread(target=self._trickle, daemon=True)
        self.thread.start()

    def _trickle(self) -> None:
        sent, started = 0, time.monotonic()
        try:
            while not self.answered.is_set() and sent < len(self.body) - 1:
                if self.slow_down.is_set():
                    self.conn.sock.sendall(self.body[sent : sent + 1])
                    sent += 1
                    self.answered.wait(self.slow_interval)
                    continue
                # Catch up with the target rate whatever the scheduling jitter, then pause briefly.
                due = int(self.fast_rate * (time.monotonic() - started)) + 200
                if due > sent:
                    self.conn.sock.sendall(self.body[sent:due])
                    sent = due
                self.answered.wait(0.02)
        except OSError:
            pass  # the server answered and closed: the trickle ends

    def response(self) -> RawResponse:
        try:
            return self.conn.response()
        finally:
            self.answered.set()
            self.thread.join(HANG_GUARD_SECONDS)


def test_slow_uploads_do_not_lock_others_out(make_server: Callable[..., LiveServer], audio_dir: Path) -> None:
    live = make_server(
        MAX_QUEUE=2,
        MAX_UPLOADS=8,
        MAX_UPLOAD_MB=1,
        UPLOAD_MIN_BYTES_PER_SECOND=2000,
        UPLOAD_RATE_GRACE_SECONDS=0.5,
        UPLOAD_IDLE_TIMEOUT_SECONDS=30,
        UPLOADS_PER_CLIENT_SHARE=1,  # every test client is 127.0.0.1
        UPLOAD_BUSY_MIN_BYTES_PER_SECOND=2000,  # the rate must not rise: these uploads take half the slots
    )
    slow_down = threading.Event()
    uploads = [
        SlowUpload(live.url, fast_rate=6000, slow_interval=0.5, slow_down=slow_down) for _ in range(4)
    ]  # twice MAX_QUEUE; three times the minimum rate, so a starved sender thread is still fast enough
    try:
        wait_until(lambda: live.state.uploads.count == 4, "the slow uploads are in progress")
        health = httpx.get(f"{live.url}/health").json()
        assert health["uploads"] == 4 and health["admitted"] == 0 and health["upload_bytes"] > 0
        # Slow but above the minimum rate: they hold upload slots only, so others are still served.
        result = live.client().audio.transcriptions.create(
            model="whisper-1", file=(audio_dir / "greeting.wav").open("rb"), response_format="text"
        )
        assert isinstance(result, str)
        assert live.state.uploads.count == 4, "the slow uploads were still going during that request"
        # Now one byte every half second, as a slowloris would: each is cut with 408 and closed.
        slow_down.set()
        for upload in uploads:
            response = upload.response()
            assert response.status == 408, response.body
            assert response.json()["error"]["code"] == "upload_too_slow"
            assert "UPLOAD_MIN_BYTES_PER_SECOND" in response.json()["error"]["message"]
            assert response.closes and upload.conn.closed_by_server()
    finally:
        for upload in uploads:
            upload.answered.set()
            upload.conn.close()
    wait_until(lambda: live.state.uploads.count == 0, "the upload slots are free")
    assert live.state.spool.used_bytes == 0
    assert list(live.state.spool.path.iterdir()) == []


def test_stalled_upload_is_408_and_closed(make_server: Callable[..., LiveServer]) -> None:
    live = make_server(UPLOAD_IDLE_TIMEOUT_SECONDS=0.5, UPLOAD_MIN_BYTES_PER_SECOND=0)
    body = multipart([file_part(bytes(10_000))], BOUNDARY)
    with RawConnection(live.url) as conn:
        conn.send_head(
            "POST",
            TRANSCRIPTIONS,
            [
                ("Content-Type", f"multipart/form-data; boundary={BOUNDARY.decode()}"),
                ("Content-Length", str(len(body))),
            ],
        )
        conn.send_body(body[:5000], end=False)  # and then nothing
        response = conn.response()
        assert response.status == 408
        assert response.json()["error"]["code"] == "upload_timeout"
        assert response.closes and conn.closed_by_server()
    assert live.state.uploads.count == 0
    assert list(live.state.spool.path.iterdir()) == []


def test_uploads_past_max_uploads_are_503(make_server: Callable[..., LiveServer]) -> None:
    live = make_server(MAX_UPLOADS=1, UPLOAD_IDLE_TIMEOUT_SECONDS=60, UPLOAD_MIN_BYTES_PER_SECOND=0)
    body = multipart([file_part(bytes(10_000))], BOUNDARY)
    content_type = ("Content-Type", f"multipart/form-data; boundary={BOUNDARY.decode()}")
    with RawConnection(live.url) as holder, RawConnection(live.url) as other:
        holder.send_head("POST", TRANSCRIPTIONS, [content_type, ("Content-Length", str(len(body)))])
        holder.send_body(body[:5000], end=False)
        wait_until(lambda: live.state.uploads.stored_bytes > 0, "the first upload has stored bytes")
        health = httpx.get(f"{live.url}/health").json()
        assert health["uploads"] == 1 and health["max_uploads"] == 1
        assert 0 < health["upload_bytes"] <= 5000
        assert health["spool_bytes"] == 5 * len(body)  # reserved: the body and 4x it (SPOOL_DECODE_RATIO)
        refused = other.post_form(body, BOUNDARY)
        assert refused.status == 503 and int(refused.headers["retry-after"]) > 0
        assert refused.json()["error"]["code"] == "too_many_uploads"
        assert other.is_healthy_after(refused)
        holder.send_body(body[5000:])
        assert holder.response().status == 400  # ten thousand zero bytes are no audio
    assert live.state.uploads.count == 0


@pytest.mark.parametrize("stream", [False, True])
def test_full_spool_is_503(make_server: Callable[..., LiveServer], stream: bool) -> None:
    live = make_server()
    live.state.spool.max_bytes = 50_000  # the budget the SPOOL setting sets, made small
    body = multipart([field_part("stream", str(stream).lower()), file_part(bytes(60_000))], BOUNDARY)
    with RawConnection(live.url) as conn:
        response = conn.post_form(body, BOUNDARY)
        assert response.status == 503 and int(response.headers["retry-after"]) > 0
        assert response.json()["error"]["code"] == "spool_full"
        assert conn.is_healthy_after(response)
    assert live.state.spool.used_bytes == 0
    assert list(live.state.spool.path.iterdir()) == []


def _hold_upload(url: str, source: str) -> RawConnection:
    """An upload from `source` that sends its head and half its body, then waits: it holds a slot."""
    body = multipart([file_part(bytes(10_000))], BOUNDARY)
    conn = RawConnection(url, source=source)
    conn.send_head(
        "POST",
        TRANSCRIPTIONS,
        [
            ("Content-Type", f"multipart/form-data; boundary={BOUNDARY.decode()}"),
            ("Content-Length", str(len(body))),
        ],
    )
    conn.send_body(body[:5000], end=False)
    return conn


def test_one_client_holds_at_most_its_share_of_the_upload_slots(
    make_server: Callable[..., LiveServer], audio_dir: Path
) -> None:
    live = make_server(
        MAX_UPLOADS=4,
        UPLOADS_PER_CLIENT_SHARE=0.5,
        UPLOAD_IDLE_TIMEOUT_SECONDS=60,
        UPLOAD_MIN_BYTES_PER_SECOND=0,
    )
    wav = (audio_dir / "greeting.wav").read_bytes()
    holders = [_hold_upload(live.url, "127.0.0.2") for _ in range(2)]
    try:
        wait_until(lambda: live.state.uploads.count == 2, "the first client holds two upload slots")
        with RawConnection(live.url, source="127.0.0.2") as third:
            refused = third.post_form(multipart([file_part(wav)], BOUNDARY), BOUNDARY)
            assert refused.status == 429, refused.body
            assert refused.json()["error"]["code"] == "too_many_uploads_from_client"
            assert "UPLOADS_PER_CLIENT_SHARE" in refused.json()["error"]["message"]
            assert int(refused.headers["retry-after"]) > 0
        # Other addresses still get the two slots that are left while the first client holds its share.
        with RawConnection(live.url, source="127.0.0.3") as other:
            response = other.post_form(
                multipart([field_part("response_format", "text"), file_part(wav)], BOUNDARY), BOUNDARY
            )
            assert response.status == 200, response.body
        result = live.client().audio.transcriptions.create(
            model="whisper-1", file=(audio_dir / "greeting.wav").open("rb"), response_format="text"
        )
        assert isinstance(result, str) and result.strip()
        assert live.state.uploads.count == 2, "the first client's uploads were held all along"
    finally:
        for conn in holders:
            conn.close()
    wait_until(lambda: live.state.uploads.count == 0, "the upload slots are free")


def test_the_minimum_rate_rises_when_the_upload_slots_run_short(
    make_server: Callable[..., LiveServer], audio_dir: Path
) -> None:
    live = make_server(
        MAX_UPLOADS=4,
        MAX_UPLOAD_MB=1,
        UPLOADS_PER_CLIENT_SHARE=1,
        UPLOAD_MIN_BYTES_PER_SECOND=1000,
        UPLOAD_BUSY_MIN_BYTES_PER_SECOND=1_000_000,
        UPLOAD_RATE_GRACE_SECONDS=3,
        UPLOAD_IDLE_TIMEOUT_SECONDS=30,
    )
    never = threading.Event()
    uploads = [SlowUpload(live.url, fast_rate=20_000, slow_interval=1, slow_down=never) for _ in range(2)]
    try:
        # Half the slots taken: 1000 bytes/s is the minimum, and 20 KB/s uploads go on past their grace.
        wait_until(lambda: live.state.uploads.stored_bytes > 160_000, "the uploads are past their grace")
        assert live.state.uploads.count == 2
        # A third upload: three quarters taken, the minimum is now 500 KB/s, so the first of the older
        # trickles to send again is cut; that leaves half the slots taken, and the rest go on.
        newcomer = SlowUpload(live.url, fast_rate=20_000, slow_interval=1, slow_down=never)
        uploads.append(newcomer)
        responses = [upload.response() for upload in uploads]
        cut = [r for r in responses if r.status == 408]
        assert len(cut) == 1, [r.body for r in responses]
        error = cut[0].json()["error"]
        assert error["code"] == "upload_too_slow"
        assert "the body must arrive at 500500 bytes/s" in error["message"]
        assert "UPLOAD_BUSY_MIN_BYTES_PER_SECOND" in error["message"]
        assert cut[0].closes
        assert responses[2].status == 400, responses[2].body  # uploaded in full: zeros are no audio
    finally:
        for upload in uploads:
            upload.answered.set()
            upload.conn.close()
    wait_until(lambda: live.state.uploads.count == 0, "the upload slots are free")
    result = live.client().audio.transcriptions.create(
        model="whisper-1", file=(audio_dir / "greeting.wav").open("rb"), response_format="text"
    )
    assert isinstance(result, str) and result.strip()


def test_with_every_slot_taken_a_newcomer_takes_a_trickling_uploads_slot(
    make_server: Callable[..., LiveServer], audio_dir: Path
) -> None:
    live = make_server(
        MAX_UPLOADS=2,
        MAX_UPLOAD_MB=1,
        UPLOADS_PER_CLIENT_SHARE=0.5,
        UPLOAD_MIN_BYTES_PER_SECOND=1000,
        UPLOAD_BUSY_MIN_BYTES_PER_SECOND=100_000,
        UPLOAD_RATE_GRACE_SECONDS=120,  # the rising rate cuts nobody here: only the newcomer does
        UPLOAD_IDLE_TIMEOUT_SECONDS=30,
    )
    never = threading.Event()
    # Two trickling clients on two addresses take both slots, as many attackers' addresses would.
    trickles = [
        SlowUpload(live.url, fast_rate=2000, slow_interval=1, slow_down=never, source=source)
        for source in ("127.0.0.2", "127.0.0.3")
    ]
    try:
        # Judged once they have run a second: each has stored more than 2 s at 2000 bytes/s.
        wait_until(lambda: live.state.uploads.stored_bytes > 8000, "the trickles have run a while")
        assert live.state.uploads.count == 2
        result = live.client().audio.transcriptions.create(
            model="whisper-1", file=(audio_dir / "greeting.wav").open("rb"), response_format="text"
        )
        assert isinstance(result, str) and result.strip()
        # The slower trickle gave its slot up and was cut at its next bytes; the other goes on.
        wait_until(lambda: any(_answered(t) for t in trickles), "a trickle was answered")
        cut = next(t for t in trickles if _answered(t))
        response = cut.response()
        assert response.status == 408, response.body
        assert response.json()["error"]["code"] == "upload_too_slow"
        assert response.closes
        assert live.state.uploads.count == 1
        assert not any(_answered(t) for t in trickles if t is not cut)
    finally:
        for trickle in trickles:
            trickle.answered.set()
            trickle.conn.close()
    wait_until(lambda: live.state.uploads.count == 0, "the upload slots are free")


def _answered(upload: SlowUpload) -> bool:
    """Whether the server has answered (or closed) this upload's connection, without waiting."""
    readable, _, _ = select.select([upload.conn.sock], [], [], 0)
    return bool(readable)
