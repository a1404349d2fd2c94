"""Job callbacks: a signed POST when a job ends, retried with backoff, its state kept on the job.

Signature (documented in docs/jobs.md): header `X-GigaAM-Signature: t=<unix seconds>,v1=<hex>`, where
hex = HMAC-SHA256(JOBS_WEBHOOK_SECRET, "<t>.<raw body>"). Receivers recompute it, compare in constant
time and reject old timestamps (replays). `X-GigaAM-Delivery` is the same on every attempt and re-send
of a job's callback, so a receiver that got it already (its answer lost, or too slow) can ignore it.
A delivery is claimed by moving its due time past the request's timeout, so with several replicas
exactly one of them sends each attempt. Up to JOBS_WEBHOOK_CONCURRENCY are sent at once, each bounded
by JOBS_WEBHOOK_TIMEOUT_SECONDS: a hung receiver holds one of them, never another job's callback.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import json
import logging
import time

import httpx

from gigaam_api.jobs.guarded_store import GuardedStore, JobStoreDownError
from gigaam_api.jobs.model import Job
from gigaam_api.jobs.view import job_object

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-GigaAM-Signature"
DELIVERY_HEADER = "X-GigaAM-Delivery"
MAX_BACKOFF_SECONDS = 3600
NOT_DELIVERED = "not delivered"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, header: str, body: bytes, *, now: float, tolerance: float = 300) -> bool:
    """What a receiver does (the tests' receiver uses it): a valid MAC over a recent timestamp."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    expected = signature(secret, timestamp, body)
    return hmac.compare_digest(expected, header.strip()) and abs(now - timestamp) <= tolerance


def backoff(attempts: int, base: float) -> float:
    """Seconds before the next try after `attempts` failures: base, 2 base, 4 base… at most an hour."""
    return float(min(base * 2 ** (attempts - 1), MAX_BACKOFF_SECONDS))


def delivery_id(job: Job) -> str:
    """One per job: its callback is one event, however many times it is sent."""
    return "whd_" + job.id.removeprefix("job_")


class WebhookSender:
    def __init__(
        self,
        store: GuardedStore,
        *,
        secret: str,
        attempts: int,
        backoff_seconds: float,
        timeout_seconds: float,
        concurrency: int,
    ) -> None:
        self._store = store
        self._secret = secret
        self._attempts = attempts
        self._backoff = backoff_seconds
        self._timeout = timeout_seconds
        self._concurrency = concurrency
        self._sending: set[asyncio.Task[None]] = set()

    async def run(self, client: httpx.AsyncClient, poll_seconds: float) -> None:
        """Start the due deliveries every `poll_seconds`, until cancelled (then theirs are cancelled too:
        claimed attempts are retried once their claim runs out)."""
        try:
            while True:
                try:
                    await self.start_due(client)
                except JobStoreDownError:
                    pass  # logged by the store once per outage
                except Exception:
                    log.exception("starting webhook deliveries failed")
                await asyncio.sleep(poll_seconds)
        finally:
            for task in self._sending:
                task.cancel()
            await asyncio.gather(*self._sending, return_exceptions=True)

    async def start_due(self, client: httpx.AsyncClient) -> None:
        """Claim due deliveries while fewer than `concurrency` are in flight; each is sent in its own task."""
        now = time.time()
        for job_id in await self._store.due_webhooks(now):
            if len(self._sending) >= self._concurrency:
                return
            job = await self._store.update(job_id, lambda j: _claimed(j, now, self._timeout, self._attempts))
            if job is not None and job.webhook is not None and job.webhook.state == "pending":
                task = asyncio.ensure_future(self._deliver(client, job))
                self._sending.add(task)
                task.add_done_callback(self._sending.discard)

    async def _deliver(self, client: httpx.AsyncClient, job: Job) -> None:
        try:
            await self._send(client, job)
        except JobStoreDownError:  # the attempt's outcome is lost: it is sent again once its claim runs out
            log.warning("job %s: webhook attempt's result not stored, the job store is unavailable", job.id)
        except Exception:
            log.exception("job %s: webhook delivery failed", job.id)

    async def _send(self, client: httpx.AsyncClient, job: Job) -> None:
        assert job.webhook is not None
        body = json.dumps(job_object(job, time.time()), ensure_ascii=False, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature(self._secret, int(time.time()), body),
            DELIVERY_HEADER: delivery_id(job),
        }
        status: int | None = None
        error: str | None = None
        try:
            # The whole attempt, however slowly the receiver trickles its answer.
            async with asyncio.timeout(self._timeout):
                response = await client.post(
                    job.webhook.url, content=body, headers=headers, timeout=self._timeout
                )
            if response.is_success:
                status = response.status_code
            else:
                error = f"HTTP {response.status_code}"
        except Exception as exc:  # whatever it is (a URL httpx refuses too), this attempt has failed
            error = type(exc).__name__
        if error:
            log.warning("job %s: webhook attempt %d failed: %s", job.id, job.webhook.attempts, error)
            error = NOT_DELIVERED  # stored and shown without detail: no probing of what answers where
        await self._store.update(job.id, lambda j: self._result(j, status, error, time.time()))

    def _result(self, job: Job, status: int | None, error: str | None, now: float) -> Job | None:
        hook = job.webhook
        if hook is None:
            return None
        if error is None:
            hook = dataclasses.replace(hook, state="delivered", next_attempt_at=None)
        elif hook.attempts >= self._attempts:
            hook = dataclasses.replace(hook, state="failed", next_attempt_at=None)
        else:
            hook = dataclasses.replace(hook, next_attempt_at=now + backoff(hook.attempts, self._backoff))
        return dataclasses.replace(
            job, webhook=dataclasses.replace(hook, last_status=status, last_error=error)
        )


def _claimed(job: Job, now: float, timeout: float, attempts: int) -> Job | None:
    """This attempt is ours: its due time moves past the request's timeout (a retry if we die)."""
    hook = job.webhook
    if hook is None or hook.state != "pending" or hook.next_attempt_at is None or hook.next_attempt_at > now:
        return None
    if hook.attempts >= attempts:  # the last attempt's sender died before recording it: no more tries
        hook = dataclasses.replace(hook, state="failed", next_attempt_at=None)
        return dataclasses.replace(job, webhook=hook)
    hook = dataclasses.replace(hook, attempts=hook.attempts + 1, next_attempt_at=now + 3 * timeout)
    return dataclasses.replace(job, webhook=hook)


def resent(job: Job, now: float) -> Job | None:
    """`POST /v1/jobs/{id}/webhook`: an ended job's callback is due again, with a fresh set of attempts.
    None (unchanged) while it is still being sent."""
    hook = job.webhook
    if hook is None or not job.terminal or hook.state == "pending":
        return None
    hook = dataclasses.replace(hook, state="pending", attempts=0, next_attempt_at=now)
    return dataclasses.replace(job, webhook=hook)
