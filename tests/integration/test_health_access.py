"""With API keys set, /health is a bare liveness answer unless the caller shows a key; /ready stays public."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tests.conftest import LiveServer


def test_health_details_need_a_key_when_keys_are_set(make_server: Callable[..., LiveServer]) -> None:
    live = make_server(API_KEY="alpha,beta")
    for headers in ({}, {"Authorization": "Bearer gamma"}, {"Authorization": "Basic alpha"}):
        bare = httpx.get(f"{live.url}/health", headers=headers, timeout=30)
        assert bare.status_code == 200 and bare.json() == {"status": "ok"}
    detailed = httpx.get(f"{live.url}/health", headers={"Authorization": "Bearer beta"}, timeout=30).json()
    assert detailed["status"] == "ok" and detailed["ready"] is True
    assert {"engine", "running", "admitted", "uploads", "jobs_store"} <= detailed.keys()
    assert detailed["jobs_store"] == {"backend": "sqlite", "state": "ok"}
    ready = httpx.get(f"{live.url}/ready", timeout=30)
    assert ready.status_code == 200 and ready.json()["status"] == "ready"


def test_health_details_are_public_without_keys(server: LiveServer) -> None:
    health = httpx.get(f"{server.url}/health", timeout=30).json()
    assert {"engine", "running", "jobs_store"} <= health.keys()
