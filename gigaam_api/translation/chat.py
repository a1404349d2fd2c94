"""One chat-completions call to the configured LLM, over httpx: the answer's text, or an `APIError`.

httpx rather than the `openai` package: httpx is already a runtime dependency, and one POST with a
JSON body is all this needs (docs/decisions.md).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence

import httpx

from gigaam_api.translation import errors
from gigaam_api.translation.batches import BatchMismatchError


class ChatClient:
    """Posts to `{base_url}/chat/completions`. `timeout` bounds a whole call, connect to last byte."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        base_url: str,
        model: str,
        api_key: str,
        timeout: float,
        json_mode: bool,
    ) -> None:
        self._http = http
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._model = model
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        # What an error message quoted back from the LLM (a proxy echoing the key it got) must not show.
        secrets = {s for s in (api_key, self._url, base_url.rstrip("/")) if s}
        self._secrets = sorted(secrets, key=len, reverse=True)  # the URL before the base URL it starts with
        self.timeout = timeout
        self._json_mode = json_mode

    async def aclose(self) -> None:
        await self._http.aclose()

    async def complete(self, messages: Sequence[dict[str, str]], *, temperature: float) -> str:
        """The first choice's message content. An unreachable LLM or an error status is
        `translation_unavailable`, no answer within the timeout `translation_timeout`; an answer
        without content is a `BatchMismatchError` (a smaller batch may get one)."""
        body: dict[str, object] = {
            "model": self._model,
            "messages": list(messages),
            "temperature": temperature,
            "stream": False,
        }
        if self._json_mode:
            body["response_format"] = {"type": "json_object"}
        try:
            async with asyncio.timeout(self.timeout):
                response = await self._http.post(self._url, json=body, headers=self._headers)
        except TimeoutError:
            raise errors.timed_out(self.timeout) from None
        except httpx.TimeoutException:
            raise errors.timed_out(self.timeout) from None
        except httpx.HTTPError as exc:
            # The exception's class, not its text: httpx's messages may quote the URL.
            raise errors.unavailable(f"{type(exc).__name__}, could not connect") from None
        if response.status_code != 200:
            hint = ""
            if response.status_code == 400 and self._json_mode:
                hint = " (a server without JSON mode needs TRANSLATION_JSON_MODE=false)"
            detail = _detail(response)
            for secret in self._secrets:
                detail = detail.replace(secret, "***")
            raise errors.unavailable(f"it answered HTTP {response.status_code}{hint}{detail}")
        return _content(response)


def _content(response: httpx.Response) -> str:
    try:
        content = json.loads(response.content)["choices"][0]["message"]["content"]
    except (ValueError, LookupError, TypeError):
        raise BatchMismatchError("the answer is not a chat completion") from None
    if not isinstance(content, str):
        raise BatchMismatchError("the answer has no text content")
    return content


def _detail(response: httpx.Response) -> str:
    """The LLM's own error message, if it sent one in OpenAI's envelope."""
    try:
        message = json.loads(response.content)["error"]["message"]
    except (ValueError, LookupError, TypeError):
        return ""
    return f" ({message})" if isinstance(message, str) and message.strip() else ""
