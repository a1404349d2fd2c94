"""Who may open a live socket: the API key as for HTTP, or, for browsers (which cannot set headers on a
WebSocket), the key or a short-lived client secret in the subprotocol, as OpenAI does.

Client secrets (`ek_…`) are signed, not stored: the expiry and the session settings travel inside,
signed with HMAC-SHA256 under the first API key, so every replica that shares the keys accepts them,
none keeps state, and a key rotation ends them. Pure.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gigaam_api.api.middleware import bearer_matches

# Browsers: `Sec-WebSocket-Protocol: realtime, openai-insecure-api-key.<key>`
KEY_PROTOCOL = "openai-insecure-api-key."
SECRET_PREFIX = "ek_"  # noqa: S105 (a prefix, not a secret)
_CONTEXT = b"gigaam-api client secret v1"


@dataclass(frozen=True, slots=True)
class Admitted:
    """A socket's credentials checked: the subprotocol to accept (never the key's) and, for a client
    secret, the session it was minted with."""

    subprotocol: str | None
    session: dict[str, Any] | None = None


def admit(
    authorization: str, subprotocols: Sequence[str], keys: Sequence[str], *, now: float | None = None
) -> Admitted | None:
    """None when the socket must be refused (keys are set and no valid credential came)."""
    offered = [p for p in subprotocols if not p.startswith(KEY_PROTOCOL)]
    subprotocol = offered[0] if offered else None
    in_protocol = next((p[len(KEY_PROTOCOL) :] for p in subprotocols if p.startswith(KEY_PROTOCOL)), None)
    scheme, _, token = authorization.partition(" ")
    bearer = token.strip() if scheme.lower() == "bearer" else None
    for credential in (bearer, in_protocol):
        if credential is not None and credential.startswith(SECRET_PREFIX):
            session = read_secret(credential, keys, now=now)
            if session is not None:
                return Admitted(subprotocol, session)
    if not keys:
        return Admitted(subprotocol)
    encoded = [k.encode() for k in keys]
    if bearer_matches(authorization, encoded) or (
        in_protocol is not None and bearer_matches(f"Bearer {in_protocol}", encoded)
    ):
        return Admitted(subprotocol)
    return None


def mint_secret(session: dict[str, Any], expires_at: int, keys: Sequence[str]) -> str:
    payload = _b64(json.dumps({"exp": expires_at, "session": session}, separators=(",", ":")).encode())
    return f"{SECRET_PREFIX}{payload}.{_sign(payload, keys[0] if keys else '')}"


def read_secret(secret: str, keys: Sequence[str], *, now: float | None = None) -> dict[str, Any] | None:
    """The session a valid, unexpired secret carries; None otherwise."""
    payload, _, signature = secret[len(SECRET_PREFIX) :].partition(".")
    signers = keys or ("",)
    # Every key is tried, always, so timing does not tell which one (or whether any) matched.
    valid = False
    for key in signers:
        valid |= hmac.compare_digest(signature.encode(), _sign(payload, key).encode())
    if not valid:
        return None
    try:
        document = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except ValueError:
        return None
    if not isinstance(document, dict) or not isinstance(document.get("exp"), int):
        return None
    if document["exp"] <= (time.time() if now is None else now):
        return None
    session = document.get("session")
    return session if isinstance(session, dict) else {}


def _sign(payload: str, key: str) -> str:
    digest = hmac.new(hashlib.sha256(_CONTEXT + key.encode()).digest(), payload.encode(), hashlib.sha256)
    return _b64(digest.digest())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
