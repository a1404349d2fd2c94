"""Pure parts of jobs: state changes, the ETA, webhook signatures and backoff, allowed URLs."""

from __future__ import annotations

import dataclasses

import pytest

from gigaam_api.errors import APIError
from gigaam_api.jobs.model import Expiry, Job, Webhook, checkpoint, claimed, ended, requeued
from gigaam_api.jobs.urls import allowed_url
from gigaam_api.jobs.webhooks import backoff, delivery_id, resent, signature, verify

EXPIRY = Expiry(result_seconds=100, audio_seconds=10)


def _job() -> Job:
    return Job("job_1", "", 0.0, 10, webhook=Webhook("http://h/x"))


def test_eta_comes_from_this_runs_speed() -> None:
    resumed = claimed(dataclasses.replace(_job(), processed_seconds=30.0), now=100.0)  # at 30 s
    job = checkpoint(resumed, new_segments=1, processed=50.0, duration=130.0, language=None)
    assert job is not None
    assert job.eta_seconds(now=110.0) == pytest.approx(40.0)  # 20 s of audio in 10 s; 80 s left
    assert job.runs == 1 and job.started_at == 100.0


def test_ending_makes_the_webhook_due_and_sets_expiry() -> None:
    job = ended(claimed(_job(), now=1.0), "succeeded", 5.0, EXPIRY)
    assert job is not None
    assert job.webhook is not None and job.webhook.state == "pending" and job.webhook_due == 5.0
    assert (job.expires_at, job.audio_expires_at, job.sweep_at) == (105.0, 15.0, 15.0)
    assert ended(job, "cancelled", 6.0, EXPIRY) is None
    assert checkpoint(job, new_segments=1, processed=1.0, duration=1.0, language=None) is None
    assert requeued(job) is None


def test_signature_verifies_only_the_signed_body_and_a_recent_time() -> None:
    header = signature("s3cret", 1000, b'{"a":1}')
    assert header.startswith("t=1000,v1=")
    assert verify("s3cret", header, b'{"a":1}', now=1100)
    assert not verify("s3cret", header, b'{"a":2}', now=1100)
    assert not verify("s3cret", header, b'{"a":1}', now=2000)  # a replay, too late
    assert not verify("s3cret", "v1=abc", b'{"a":1}', now=1000)


def test_backoff_doubles_up_to_an_hour() -> None:
    assert [backoff(n, 10) for n in (1, 2, 3)] == [10, 20, 40]
    assert backoff(30, 10) == 3600


WEB_PORTS = ((80, 80), (443, 443))


def test_allowed_urls() -> None:
    checked = allowed_url(
        " https://Media.Example/a.mp3 ", ("media.example",), WEB_PORTS, param="url", setting="S"
    )
    assert str(checked) == "https://media.example/a.mp3"
    assert allowed_url("http://h:8001/a", ("h",), ((8000, 8099),), param="url", setting="S").port == 8001
    assert allowed_url("http://Пример.рф/a", ("пример.РФ",), WEB_PORTS, param="url", setting="S")
    for url, hosts in (
        ("http://other/a", ("media.example",)),
        ("file:///etc/passwd", ("media.example",)),
        ("http://media.example/a", ()),
    ):
        with pytest.raises(APIError) as refused:
            allowed_url(url, hosts, WEB_PORTS, param="url", setting="S")
        assert refused.value.status == 400 and refused.value.param == "url"


def test_a_webhook_is_sent_again_only_once_its_job_ended_and_its_delivery_is_over() -> None:
    running = claimed(_job(), now=1.0)
    assert resent(running, 2.0) is None  # sent when it ends
    done = ended(running, "failed", 5.0, EXPIRY)
    assert done is not None and resent(done, 6.0) is None  # its first delivery is still due
    assert done.webhook is not None
    failed = dataclasses.replace(done, webhook=dataclasses.replace(done.webhook, state="failed", attempts=6))
    again = resent(failed, 7.0)
    assert again is not None and again.webhook is not None
    assert (again.webhook.state, again.webhook.attempts, again.webhook_due) == ("pending", 0, 7.0)
    assert delivery_id(again) == delivery_id(done) == "whd_1"
    assert resent(dataclasses.replace(failed, webhook=None), 7.0) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:80:80/a.wav",  # the host check saw 127.0.0.1, httpx refuses the port
        "http://127.0.0.1\t/a.wav",  # a tab before the path
        "http://127.0.0.1/a\n.wav",
        "http://127.0.0.1:22/a.wav",  # a port not in the list
        "http://127.0.0.1:8080/a.wav",
        "https://127.0.0.1/a.wav\x00",
    ],
)
def test_urls_httpx_would_refuse_or_other_ports_are_400s(url: str) -> None:
    with pytest.raises(APIError) as refused:
        allowed_url(url, ("127.0.0.1",), WEB_PORTS, param="callback_url", setting="S")
    assert refused.value.status == 400 and refused.value.param == "callback_url"
