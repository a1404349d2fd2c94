"""The server's translator from its settings: None when TRANSLATION_BASE_URL is not set."""

from __future__ import annotations

import httpx

from gigaam_api.config import Settings
from gigaam_api.translation.chat import ChatClient
from gigaam_api.translation.translator import Translator


def open_translator(settings: Settings) -> Translator | None:
    """A translator with its own connection pool (closed by `Translator.aclose`)."""
    base_url = settings.TRANSLATION_BASE_URL.strip()
    if not base_url:
        return None
    # Sized to the calls made at once; the whole-call timeout is ChatClient's, httpx's only a backstop.
    http = httpx.AsyncClient(
        limits=httpx.Limits(max_connections=settings.TRANSLATION_CONCURRENCY),
        timeout=httpx.Timeout(settings.TRANSLATION_TIMEOUT_SECONDS + 5),
        follow_redirects=False,
    )
    chat = ChatClient(
        http,
        base_url=base_url,
        model=settings.TRANSLATION_MODEL.strip(),
        api_key=settings.TRANSLATION_API_KEY.strip(),
        timeout=settings.TRANSLATION_TIMEOUT_SECONDS,
        json_mode=settings.TRANSLATION_JSON_MODE,
    )
    return Translator(
        chat, batch_segments=settings.TRANSLATION_BATCH_SEGMENTS, concurrency=settings.TRANSLATION_CONCURRENCY
    )
