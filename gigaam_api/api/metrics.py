"""GET /metrics (Prometheus text format) and the middleware that counts requests and errors."""

from __future__ import annotations

import json
from collections.abc import Mapping

from fastapi import APIRouter
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gigaam_api.jobs.guarded_store import PROBE_SECONDS, JobStoreDownError
from gigaam_api.jobs.model import JobStatus
from gigaam_api.jobs.service import JobService
from gigaam_api.metrics import Metrics

router = APIRouter()
UNMATCHED = "unmatched"  # 404s: a label per unknown path would let clients grow the series without bound


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    registry: Metrics = request.app.state.metrics
    jobs: JobService = request.app.state.jobs
    try:  # a hung store must not hold the scrape (its calls are bounded): its gauges say it is down
        counts: Mapping[JobStatus, int] | None = await jobs.store.counts(timeout=PROBE_SECONDS)
    except JobStoreDownError:
        counts = None
    registry.jobs_seen(counts)
    return Response(registry.render(), media_type=CONTENT_TYPE_LATEST)


class MetricsMiddleware:
    """Counts every HTTP response by route template and status, and error responses by their code."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        error_code: str | None = None

        async def watch(message: Message) -> None:
            nonlocal status, error_code
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and status >= 400 and error_code is None:
                error_code = _error_code(message.get("body", b"")) or str(status)
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", UNMATCHED)
            self.metrics.requests.labels(path, str(status)).inc()
            if status >= 400:
                self.metrics.errors.labels(error_code or str(status)).inc()


def _error_code(body: bytes) -> str | None:
    """The `code` (else `type`) of an OpenAI error envelope; None if the body is not one."""
    try:
        error = json.loads(body)["error"]
        return str(error.get("code") or error.get("type"))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
