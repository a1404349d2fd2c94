"""Liveness (/health, answers while the model loads) and readiness (/ready, 200 once it is loaded)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse

from gigaam_api.api.middleware import bearer_matches
from gigaam_api.api.state import app_state
from gigaam_api.jobs.guarded_store import GuardedStore
from gigaam_api.pipeline.protocol import Transcriber
from gigaam_api.pipeline.served import served_by_model

router = APIRouter()


@router.get("/health")
async def health(request: Request) -> dict[str, object]:
    """Liveness for anyone; the details (engine, load, the job store) only for a key when keys are set:
    they would let anyone watch the server's traffic."""
    state = app_state(request)
    keys = [k.encode() for k in state.settings.API_KEY]
    if keys and not bearer_matches(request.headers.get("authorization", ""), keys):
        return {"status": "ok"}
    transcriber = state.transcriber
    body: dict[str, object] = {
        "status": "ok",
        "model": state.settings.MODEL,
        "ready": transcriber is not None,
        "admitted": state.admission.count,
        "running": state.admission.running,
        "max_running": state.admission.running_limit,
        "waiting": state.admission.waiting,
        "max_waiting": state.admission.waiting_limit,
        "batches_run": transcriber.batches_run if transcriber is not None else 0,
        "uploads": state.uploads.count,
        "max_uploads": state.uploads.limit,
        "upload_bytes": state.uploads.stored_bytes,
        "in_flight": state.shutdown.in_flight,
        "shutting_down": state.shutdown.draining,
        "spool_bytes": state.spool.used_bytes,
        "spool_max_bytes": state.spool.max_bytes,
        "jobs_store": await _store_health(request),
    }
    if transcriber is not None:
        caps = transcriber.capabilities
        body["model_state"] = transcriber.model_state
        body["engine"] = {
            "runtime": caps.runtime,
            "device": caps.device,
            "precision": caps.precision,
            "streams": caps.streams,  # batches it runs at once (INFERENCE_STREAMS)
            "why": caps.detail,
        }
        body["models"] = {
            model: _model_health(served) for model, served in served_by_model(transcriber).items()
        }
    return body


async def _store_health(request: Request) -> dict[str, object]:
    """Asked now, for at most PROBE_SECONDS: a hung store shows as unavailable, it does not hold /health."""
    store: GuardedStore = request.app.state.jobs.store
    return {"backend": store.kind, "state": "ok" if await store.available() else "unavailable"}


def _model_health(transcriber: Transcriber) -> dict[str, object]:
    """One served model: loaded, loading, or unloaded (not used yet, or after IDLE_UNLOAD_SECONDS)."""
    caps = transcriber.capabilities
    return {
        "state": transcriber.model_state,
        "device": caps.device,
        "runtime": caps.runtime,
        "precision": caps.precision,
        "languages": sorted(caps.languages),
        "word_timestamps": caps.word_timestamps,
        "token_logprobs": caps.token_logprobs,
    }


@router.get("/ready")
async def ready(request: Request) -> JSONResponse:
    state = app_state(request)
    if state.transcriber is None:
        reason = state.load_error or "loading"
        return JSONResponse(
            {"status": "loading", "detail": reason}, status_code=503, headers={"Retry-After": "5"}
        )
    # An idle-unloaded model is still ready: the next request loads it again and waits for it.
    transcriber = state.transcriber
    return JSONResponse(
        {
            "status": "ready",
            "model": transcriber.capabilities.model_id,
            "model_state": transcriber.model_state,
        }
    )
