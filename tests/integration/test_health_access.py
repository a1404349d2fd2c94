"""With API keys set, /health is a bare liveness answer unless the caller shows a key; /ready stays public."""

from __future__ import annotations

from collections.abc import Callable

from tests.fixtures.app_server import AppServer


def test_health_details_need_a_key_when_keys_are_set(make_app_server: Callable[..., AppServer]) -> None:
    live = make_app_server(API_KEY="alpha,beta")
    for headers in ({}, {"Authorization": "Bearer gamma"}, {"Authorization": "Basic alpha"}):
        bare = live.http.get("/health", headers=headers)
        assert bare.status_code == 200 and bare.json() == {"status": "ok"}
    detailed = live.http.get("/health", headers={"Authorization": "Bearer beta"}).json()
    assert detailed["status"] == "ok" and detailed["ready"] is True
    assert {"engine", "running", "admitted", "uploads", "jobs_store"} <= detailed.keys()
    assert detailed["jobs_store"] == {"backend": "sqlite", "state": "ok"}
    ready = live.http.get("/ready")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"


def test_health_details_are_public_without_keys(app_server: AppServer) -> None:
    health = app_server.http.get("/health").json()
    assert {"engine", "running", "jobs_store"} <= health.keys()
