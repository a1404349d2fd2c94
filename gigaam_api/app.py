"""The application factory. Inference code is imported lazily in the lifespan, never at import time."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gigaam_api import __version__
from gigaam_api.api import health, jobs, models, realtime, transcriptions, translations, ws_transcribe
from gigaam_api.api import metrics as api_metrics
from gigaam_api.api.admission import Admission, UploadSlots
from gigaam_api.api.errors import install_error_handlers
from gigaam_api.api.middleware import BearerAuthMiddleware, CloseUnreadBodyMiddleware, RequestIdMiddleware
from gigaam_api.api.shutdown import GracefulShutdown, ShutdownMiddleware
from gigaam_api.api.state import AppState
from gigaam_api.audio.spool import SpoolDir, SpoolFullError, remove_stale
from gigaam_api.config import Settings, load_settings
from gigaam_api.dedup.setup import shared_runs
from gigaam_api.engines.base import ASREngine, EngineOptions, EngineUnavailableError
from gigaam_api.engines.registry import resolve_settings
from gigaam_api.errors import spool_full
from gigaam_api.jobs.guarded_store import JobStoreDownError, store_unavailable
from gigaam_api.jobs.service import JobService
from gigaam_api.listen import browser_url, other_machines_hint, reachable_from_elsewhere
from gigaam_api.metrics import Metrics
from gigaam_api.options.transcription import TranscriptionOptions
from gigaam_api.pipeline.protocol import Transcriber
from gigaam_api.pipeline.served import served_by_model
from gigaam_api.translation.setup import open_translator
from gigaam_api.web import routes as web
from gigaam_api.web.assets import PUBLIC_PAGE_PATHS

log = logging.getLogger(__name__)

TranscriberFactory = Callable[[Settings, Metrics], tuple[Transcriber, Callable[[], None]]]


def build_transcriber(
    settings: Settings,
    metrics: Metrics | None = None,
    *,
    wrap_engine: Callable[[ASREngine], ASREngine] | None = None,
) -> tuple[Transcriber, Callable[[], None]]:
    """The default factory: `gigaam_api.pipeline.assembly`, imported only when called (it loads inference)."""
    from gigaam_api.pipeline.assembly import build_transcriber as build

    return build(settings, metrics, wrap_engine=wrap_engine)


def _exit_process() -> None:
    os.kill(os.getpid(), signal.SIGTERM)  # uvicorn's own shutdown path: stop serving, run the lifespan's end


def create_app(
    settings: Settings | None = None,
    *,
    factory: TranscriberFactory = build_transcriber,
    on_fatal: Callable[[], None] = _exit_process,
) -> FastAPI:
    """`on_fatal` is called when the model cannot be loaded: a server without a model must not linger."""
    settings = resolve_settings(settings or load_settings())
    metrics = Metrics()
    runs = shared_runs(settings, metrics, waiting=lambda: admission.waiting)
    admission = Admission(
        settings.MAX_RUNNING,
        settings.MAX_WAITING,
        on_wait=metrics.line_wait.observe,
        on_queued=runs.make_room,  # runs nobody waits for give their slots up
    )
    state = AppState(
        settings=settings,
        admission=admission,
        uploads=UploadSlots(
            settings.MAX_UPLOADS, per_client=settings.uploads_per_client, slow_rate=settings.upload_slow_rate
        ),
        spool=SpoolDir.claim(settings.SPOOL_DIR, max_bytes=settings.spool_max_bytes),
        # Waiting requests are sent away (503 shutting_down) as soon as the drain begins.
        shutdown=GracefulShutdown(settings.SHUTDOWN_GRACE_SECONDS, on_draining=admission.close),
        runs=runs,
        translator=open_translator(settings),
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        removed = remove_stale(settings.SPOOL_DIR)
        if removed:
            log.info("removed %d leftover(s) of stopped instances from %s", removed, settings.SPOOL_DIR)
        state.shutdown.bind(asyncio.get_running_loop())
        loader = asyncio.ensure_future(_load(state, metrics, factory, on_fatal))
        job_service.start(state.spool, partial(_job_plan, state), state.translator)
        # A draining server claims nothing more; its running jobs go back to the queue for another replica.
        state.shutdown.when_draining(job_service.hand_back)
        try:
            yield
        finally:
            state.admission.close()
            loader.cancel()
            job_service.hand_back()  # running jobs go back to the queue, to resume from their stored segments
            await job_service.stopped()
            job_service.close()
            await state.runs.aclose()
            if state.stop_engine is not None:
                await asyncio.to_thread(state.stop_engine)
            state.spool.close()
            await state.close_translator()

    app = FastAPI(
        title="gigaam-api", version=__version__, lifespan=lifespan, docs_url="/docs", redoc_url=None
    )
    app.state.gigaam = state
    job_service = JobService.open(settings)
    app.state.jobs = job_service
    metrics.watch(
        queue_length=lambda: admission.waiting,
        running=lambda: admission.running,
        spool_bytes=lambda: state.spool.used_bytes,
    )
    metrics.watch_jobs(disk_bytes=job_service.audio.used_bytes)
    app.state.metrics = metrics
    install_error_handlers(app)
    app.add_exception_handler(SpoolFullError, _spool_full)
    app.add_exception_handler(JobStoreDownError, _store_unavailable)
    for routes in (transcriptions, translations, realtime, ws_transcribe, jobs, models, health, api_metrics):
        app.include_router(routes.router)
    app.add_middleware(ShutdownMiddleware, shutdown=state.shutdown)
    app.include_router(web.router)
    app.add_middleware(BearerAuthMiddleware, keys=settings.API_KEY, public=PUBLIC_PAGE_PATHS)
    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(CloseUnreadBodyMiddleware)  # sees every response, 500s included
    app.add_middleware(api_metrics.MetricsMiddleware, metrics=metrics)  # outermost: sees every final status
    return app


def _job_plan(state: AppState, options: TranscriptionOptions) -> tuple[Transcriber, EngineOptions] | None:
    """A job's served model and engine options, from its stored options (`jobs.worker.Planner`)."""
    if state.transcriber is None:
        return None
    return state.plan(options)


async def _spool_full(_: Request, exc: Exception) -> Response:
    error = spool_full()
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers)


async def _store_unavailable(_: Request, exc: Exception) -> Response:
    error = store_unavailable()
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers)


async def _load(
    state: AppState, metrics: Metrics, factory: TranscriberFactory, on_fatal: Callable[[], None]
) -> None:
    settings = state.settings
    log.info("loading %s (%d threads)", settings.MODEL, settings.NUM_THREADS)
    try:
        began = time.monotonic()
        transcriber, stop = await asyncio.to_thread(factory, settings, metrics)
    except Exception as exc:
        state.load_error = str(exc)
        # An engine that cannot run here as configured is the operator's to fix: its message says how.
        log.critical("%s", exc, exc_info=not isinstance(exc, EngineUnavailableError))
        on_fatal()
        return
    state.stop_engine = stop
    state.transcriber = transcriber
    model = transcriber.capabilities.model_id
    metrics.model_load_seconds.labels(model).set(time.monotonic() - began)
    metrics.model_loaded.labels(model).set(1)
    # The one line a person waits for: where to go first, then what runs and why (the technical detail).
    serving = "; ".join(_describe(served) for served in served_by_model(transcriber).values())
    where = browser_url(settings.HOST, settings.PORT) + other_machines_hint(settings.HOST, settings.PORT)
    log.info("ready — open %s — serving %s", where, serving)
    if not settings.API_KEY and reachable_from_elsewhere(settings.HOST):
        log.warning(
            "HOST=%s lets other machines connect and API_KEY is empty: anyone who reaches port %d can use "
            "this server; set API_KEY=<a long random text> (docs/api.md: Authentication)",
            settings.HOST,
            settings.PORT,
        )


def _describe(served: Transcriber) -> str:
    caps = served.capabilities
    detail = f": {caps.detail}" if caps.detail else ""
    return (
        f"{caps.model_id} on {caps.device} ({caps.runtime}, {caps.precision}, {served.model_state}){detail}"
    )
