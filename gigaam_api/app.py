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
from gigaam_api.api import health, jobs, models, transcriptions
from gigaam_api.api import metrics as api_metrics
from gigaam_api.api.admission import Admission, UploadSlots
from gigaam_api.api.errors import install_error_handlers
from gigaam_api.api.intake import spool_full
from gigaam_api.api.middleware import BearerAuthMiddleware, CloseUnreadBodyMiddleware, RequestIdMiddleware
from gigaam_api.api.shutdown import GracefulShutdown, ShutdownMiddleware
from gigaam_api.api.state import AppState
from gigaam_api.audio.spool import SpoolDir, SpoolFullError, remove_stale
from gigaam_api.config import Settings, load_settings
from gigaam_api.engines.base import ASREngine
from gigaam_api.jobs.service import JobService
from gigaam_api.metrics import Metrics
from gigaam_api.pipeline.protocol import Transcriber
from gigaam_api.web import routes as web

log = logging.getLogger(__name__)

TranscriberFactory = Callable[[Settings, Metrics], tuple[Transcriber, Callable[[], None]]]


def build_transcriber(
    settings: Settings,
    metrics: Metrics | None = None,
    *,
    wrap_engine: Callable[[ASREngine], ASREngine] | None = None,
) -> tuple[Transcriber, Callable[[], None]]:
    """Fetch weights if needed, load the engine and VAD; return the transcriber and its shutdown.

    `wrap_engine` lets tests slow the engine down or watch it, to force rare timings.
    """
    from gigaam_api.engines.registry import create_engine
    from gigaam_api.pipeline.run import RunParts
    from gigaam_api.pipeline.scheduler import InferenceScheduler
    from gigaam_api.pipeline.transcriber import Transcriber as PipelineTranscriber
    from gigaam_api.pipeline.unloadable import UnloadableEngine
    from gigaam_api.vad.silero import SileroVad

    metrics = metrics or Metrics()
    loaded = create_engine(settings)
    model_loaded = metrics.model_loaded.labels(loaded.capabilities.model_id)
    unloadable = UnloadableEngine(
        partial(create_engine, settings),
        loaded,
        on_state=lambda state: model_loaded.set(state == "loaded"),
        on_loaded=metrics.model_load_seconds.labels(loaded.capabilities.model_id).set,
    )
    engine: ASREngine = unloadable if wrap_engine is None else wrap_engine(unloadable)
    scheduler = InferenceScheduler(
        on_batch=metrics.batch_seconds.labels(loaded.capabilities.model_id).observe,
        on_first_batch=metrics.queue_wait.observe,
        idle_seconds=settings.IDLE_UNLOAD_SECONDS,
        on_idle=unloadable.unload,
    )
    parts = RunParts(settings, engine, SileroVad(num_threads=1), scheduler, on_finished=metrics.finished)
    return PipelineTranscriber(parts, model_state=lambda: unloadable.state), scheduler.stop


def _exit_process() -> None:
    os.kill(os.getpid(), signal.SIGTERM)  # uvicorn's own shutdown path: stop serving, run the lifespan's end


def create_app(
    settings: Settings | None = None,
    *,
    factory: TranscriberFactory = build_transcriber,
    on_fatal: Callable[[], None] = _exit_process,
) -> FastAPI:
    """`on_fatal` is called when the model cannot be loaded: a server without a model must not linger."""
    settings = settings or load_settings()
    state = AppState(
        settings=settings,
        admission=Admission(settings.MAX_QUEUE),
        uploads=UploadSlots(settings.MAX_UPLOADS),
        spool=SpoolDir.claim(settings.SPOOL_DIR, max_bytes=settings.spool_max_bytes),
        shutdown=GracefulShutdown(settings.SHUTDOWN_GRACE_SECONDS),
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        removed = remove_stale(settings.SPOOL_DIR)
        if removed:
            log.info("removed %d leftover(s) of stopped instances from %s", removed, settings.SPOOL_DIR)
        state.shutdown.bind(asyncio.get_running_loop())
        loader = asyncio.ensure_future(_load(state, metrics, factory, on_fatal))
        job_loops = asyncio.ensure_future(job_service.run(state.spool, lambda: state.transcriber))
        try:
            yield
        finally:
            state.admission.close()
            loader.cancel()
            job_loops.cancel()  # running jobs go back to the queue, to resume from their stored segments
            await asyncio.gather(job_loops, return_exceptions=True)
            job_service.close()
            if state.stop_engine is not None:
                await asyncio.to_thread(state.stop_engine)
            state.spool.close()

    app = FastAPI(
        title="gigaam-api", version=__version__, lifespan=lifespan, docs_url="/docs", redoc_url=None
    )
    app.state.gigaam = state
    job_service = JobService.open(settings)
    app.state.jobs = job_service
    metrics = Metrics()
    metrics.watch(queue_length=lambda: state.admission.count, spool_bytes=lambda: state.spool.used_bytes)
    metrics.watch_jobs(counts=job_service.store.counts, disk_bytes=job_service.audio.used_bytes)
    app.state.metrics = metrics
    install_error_handlers(app)
    app.add_exception_handler(SpoolFullError, _spool_full)
    app.include_router(transcriptions.router)
    app.include_router(jobs.router)
    app.include_router(models.router)
    app.include_router(health.router)
    app.include_router(api_metrics.router)
    app.add_middleware(ShutdownMiddleware, shutdown=state.shutdown)
    app.include_router(web.router)
    app.add_middleware(BearerAuthMiddleware, keys=settings.API_KEY)
    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(CloseUnreadBodyMiddleware)  # sees every response, 500s included
    app.add_middleware(api_metrics.MetricsMiddleware, metrics=metrics)  # outermost: sees every final status
    return app


async def _spool_full(_: Request, exc: Exception) -> Response:
    error = spool_full()
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers)


async def _load(
    state: AppState, metrics: Metrics, factory: TranscriberFactory, on_fatal: Callable[[], None]
) -> None:
    settings = state.settings
    log.info(
        "loading %s (RUNTIME=%s DEVICE=%s PRECISION=%s, %d threads)",
        settings.MODEL,
        settings.RUNTIME,
        settings.DEVICE,
        settings.PRECISION,
        settings.NUM_THREADS,
    )
    try:
        began = time.monotonic()
        transcriber, stop = await asyncio.to_thread(factory, settings, metrics)
    except Exception as exc:
        state.load_error = str(exc)
        log.critical("%s", exc)
        on_fatal()
        return
    state.stop_engine = stop
    state.transcriber = transcriber
    model = transcriber.capabilities.model_id
    metrics.model_load_seconds.labels(model).set(time.monotonic() - began)
    metrics.model_loaded.labels(model).set(1)
    caps = transcriber.capabilities
    log.info(
        "ready: serving %s on %s (%s, %s)%s",
        caps.model_id,
        caps.device,
        caps.runtime,
        caps.precision,
        f": {caps.detail}" if caps.detail else "",
    )
