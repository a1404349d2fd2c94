"""How a translation fails, in OpenAI's envelope: the client learns what went wrong, never from where.

Messages name settings, never their values: TRANSLATION_BASE_URL may hold credentials.
"""

from __future__ import annotations

from gigaam_api.errors import APIError

SHOWN_CHARS = 200


def not_configured() -> APIError:
    """Translation is off. 501 because the server lacks it; `x-should-retry: false` because retrying
    cannot help (the official client would otherwise retry a 5xx twice)."""
    message = (
        "Translation is not enabled on this server: set TRANSLATION_BASE_URL (an OpenAI-compatible "
        "chat-completions endpoint such as Ollama, vLLM or LiteLLM) and TRANSLATION_MODEL, "
        "see docs/translations.md."
    )
    return APIError(
        501,
        message,
        type="server_error",
        code="translation_not_configured",
        headers={"x-should-retry": "false"},
    )


def unavailable(reason: str) -> APIError:
    """The LLM could not be reached or answered with an error status."""
    return APIError(
        502,
        f"The translation LLM is unavailable: {shown(reason)}. The transcription itself succeeded.",
        type="server_error",
        code="translation_unavailable",
    )


def timed_out(seconds: float) -> APIError:
    return APIError(
        504,
        f"The translation LLM did not answer within TRANSLATION_TIMEOUT_SECONDS ({seconds:g} s). "
        "The transcription itself succeeded.",
        type="server_error",
        code="translation_timeout",
    )


def failed(reason: str) -> APIError:
    """The LLM answered, but not with the segments sent, even one at a time."""
    return APIError(
        502,
        f"The translation LLM's answer did not match the segments sent, even one segment at a time: "
        f"{shown(reason)}.",
        type="server_error",
        code="translation_failed",
    )


def shown(text: str) -> str:
    """Text from the LLM (or about it) cut short and on one line."""
    line = " ".join(text.split())
    return line if len(line) <= SHOWN_CHARS else line[: SHOWN_CHARS - 1] + "…"
