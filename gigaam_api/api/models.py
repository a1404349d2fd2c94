"""GET /v1/models and /v1/models/{id}: every served model (the default first), then the aliases.

An alias (`whisper-1` ...) or no model routes by language (`api/model_choice.py`); a served model's own id
(or a short form the registry accepts, `v3_ctc`) picks that model. An alias's object carries
`alias_of`, the model it stands for without a `language` (the default), so a client (the web page)
can show each served model once; OpenAI's Model type allows the extra field.
"""

from __future__ import annotations

import time

from fastapi import APIRouter
from starlette.requests import Request

from gigaam_api.api.state import app_state
from gigaam_api.config import Settings
from gigaam_api.engines.registry import canonical_model_name
from gigaam_api.errors import APIError

router = APIRouter()
OWNER = "gigaam-api"
_STARTED = int(time.time())


def accepted_ids(settings: Settings) -> list[str]:
    """The served models first (the default leading), then the aliases clients may send."""
    served = settings.served_models
    return [*served, *(a for a in settings.MODEL_ALIASES if a not in served)]


def resolves_to_served(model: str, settings: Settings) -> bool:
    if model in settings.MODEL_ALIASES:
        return True
    try:
        return canonical_model_name(model) in settings.served_models
    except ValueError:
        return False


def _model_object(model_id: str, settings: Settings) -> dict[str, object]:
    model: dict[str, object] = {"id": model_id, "object": "model", "created": _STARTED, "owned_by": OWNER}
    if model_id in settings.MODEL_ALIASES and model_id not in settings.served_models:
        model["alias_of"] = settings.MODEL
    return model


@router.get("/v1/models")
async def list_models(request: Request) -> dict[str, object]:
    settings = app_state(request).settings
    return {"object": "list", "data": [_model_object(m, settings) for m in accepted_ids(settings)]}


@router.get("/v1/models/{model_id:path}")
async def retrieve_model(model_id: str, request: Request) -> dict[str, object]:
    settings = app_state(request).settings
    if model_id in accepted_ids(settings) or resolves_to_served(model_id, settings):
        return _model_object(model_id, settings)
    raise APIError(404, f"The model `{model_id}` does not exist.", param="model", code="model_not_found")
