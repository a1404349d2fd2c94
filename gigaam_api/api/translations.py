"""POST /v1/audio/translations: OpenAI's translations, through the transcriptions route's machinery.

The audio is transcribed as usual, then the segments' texts are translated into English, or into
`target_language` (this server's extension), by TRANSLATION_BASE_URL's LLM (docs/translations.md).
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from gigaam_api.api.request_schema import TRANSLATION_SCHEMA
from gigaam_api.api.state import app_state
from gigaam_api.api.transcriptions import transcribe
from gigaam_api.api.translated import translator_of

router = APIRouter()
DEFAULT_TARGET = "en"  # OpenAI's translations are always into English


@router.post("/v1/audio/translations", openapi_extra=TRANSLATION_SCHEMA)
async def create_translation(request: Request) -> Response:
    translator_of(app_state(request))  # translation off: the 501 comes before the upload is read
    return await transcribe(request, default_target=DEFAULT_TARGET)
