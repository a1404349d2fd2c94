"""The application factory. Inference code is imported lazily in the lifespan, never at import time."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from gigaam_api import __version__
from gigaam_api.api import health, models, transcriptions
from gigaam_api.api.admission import Admission
from gigaam_api.api.errors import install_error_handlers
from gigaam_api.api.middleware import BearerAuthMiddleware, RequestIdMiddleware
from gigaam_api.api.state import AppState
from gigaam_api.audio.spool import SpoolDir
from gigaam_api.config import Settings, load_settings
from gigaam_api.engines.base import ASREngine
from gigaam_api.pipeline.protocol import Transcriber

log = logging.getLogger(__name__)

TranscriberFactory = Callable[[Settings], tuple[Transcriber, Callable[[], None]]]


def build_transcriber(
    settings: Settings, *, wrap_engine: Callable[[ASREngine], ASREngine] | None = None
) -> tuple[Transcriber, Callable[[], None]]:
    """Fetch weights if needed, load the engine and VAD; return the transcriber and its shutdown.

    `wrap_engine` lets tests slow the engine down or watch it, to force rare timings.
    """
    from gigaam_api.engines.registry import create_engine
    from gigaam_api.pipeline.run import RunParts
    from gigaam_api.pipeline.scheduler import InferenceScheduler
    from gigaam_api.pipeline.transcriber import Transcriber as PipelineTranscriber
    from gigaam_api.vad.silero import SileroVad

    engine = create_engine(settings)
    if wrap_engine is not None:
        engine = wrap_engine(engine)
    scheduler = InferenceScheduler()
    parts = RunParts(settings, engine, SileroVad(num_threads=1), scheduler)
    return PipelineTranscriber(parts), scheduler.stop


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
        settings=settings, admission=Admission(settings.MAX_QUEUE), spool=SpoolDir(settings.SPOOL_DIR)
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        removed = state.spool.cleanup_stale()
        if removed:
            log.info("removed %d stale spool file(s) from %s", removed, settings.SPOOL_DIR)
        loader = asyncio.ensure_future(_load(state, factory, on_fatal))
        try:
            yield
        finally:
            state.admission.close()
            loader.cancel()
            if state.stop_engine is not None:
                await asyncio.to_thread(state.stop_engine)

    app = FastAPI(
        title="gigaam-api", version=__version__, lifespan=lifespan, docs_url="/docs", redoc_url=None
    )
    app.state.gigaam = state
    install_error_handlers(app)
    app.include_router(transcriptions.router)
    app.include_router(models.router)
    app.include_router(health.router)
    app.add_middleware(BearerAuthMiddleware, keys=settings.API_KEY)
    app.add_middleware(RequestIdMiddleware)
    return app


async def _load(state: AppState, factory: TranscriberFactory, on_fatal: Callable[[], None]) -> None:
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
        transcriber, stop = await asyncio.to_thread(factory, settings)
    except Exception as exc:
        state.load_error = str(exc)
        log.critical("%s", exc)
        on_fatal()
        return
    state.stop_engine = stop
    state.transcriber = transcriber
    caps = transcriber.capabilities
    log.info(
        "ready: serving %s on %s (%s, %s)%s",
        caps.model_id,
        caps.device,
        caps.runtime,
        caps.precision,
        f": {caps.detail}" if caps.detail else "",
    )
