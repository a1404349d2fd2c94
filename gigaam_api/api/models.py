"""GET /v1/models and /v1/models/{id}, and the check of a request's `model` field."""

from __future__ import annotations

import time

from fastapi import APIRouter
from starlette.requests import Request

from gigaam_api.api.state import app_state
from gigaam_api.config import Settings
from gigaam_api.engines.registry import canonical_model_name
from gigaam_api.errors import APIError, bad_request

router = APIRouter()
OWNER = "gigaam-api"
_STARTED = int(time.time())


def accepted_ids(settings: Settings) -> list[str]:
    """The served model first, then the aliases clients may send for it."""
    return [settings.MODEL, *(a for a in settings.MODEL_ALIASES if a != settings.MODEL)]


def resolves_to_served(model: str, settings: Settings) -> bool:
    if model in settings.MODEL_ALIASES:
        return True
    try:
        return canonical_model_name(model) == settings.MODEL
    except ValueError:
        return False


def check_model(model: str | None, settings: Settings, served: str, *, param: str) -> None:
    """No model (curl users often omit it) means the served one; anything unknown is a 400."""
    if model is None or resolves_to_served(model, settings):
        return
    raise bad_request(
        f"The model `{model}` is not served here. Use `{served}` or one of its aliases: "
        f"{', '.join(settings.MODEL_ALIASES) or '(none)'}.",
        param=param,
        code="model_not_found",
    )


def _model_object(model_id: str) -> dict[str, object]:
    return {"id": model_id, "object": "model", "created": _STARTED, "owned_by": OWNER}


@router.get("/v1/models")
async def list_models(request: Request) -> dict[str, object]:
    settings = app_state(request).settings
    return {"object": "list", "data": [_model_object(m) for m in accepted_ids(settings)]}


@router.get("/v1/models/{model_id:path}")
async def retrieve_model(model_id: str, request: Request) -> dict[str, object]:
    settings = app_state(request).settings
    if model_id in accepted_ids(settings) or resolves_to_served(model_id, settings):
        return _model_object(model_id)
    raise APIError(404, f"The model `{model_id}` does not exist.", param="model", code="model_not_found")
