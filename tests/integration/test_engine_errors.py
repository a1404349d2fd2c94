"""An engine that cannot load: one class of error for every family, one line for the operator."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from gigaam_api.config import Settings
from gigaam_api.engines.base import EngineUnavailableError, RuntimeSelectionError, WeightsUnavailableError
from gigaam_api.engines.gigaam.ir import Int8IrUnavailableError
from tests.fixtures.live_server import start_server
from tests.fixtures.waiting import wait_until


def test_every_engine_unavailable_error_shares_one_base() -> None:
    """The app and the CLI catch this one class; they used to import GigaAM's int8 error by name."""
    for error in (WeightsUnavailableError, RuntimeSelectionError, Int8IrUnavailableError):
        assert issubclass(error, EngineUnavailableError)


@pytest.mark.parametrize(
    ("error", "traceback"),
    [(RuntimeSelectionError("GIGAAM_DEVICE=cuda but no GPU"), False), (RuntimeError("a bug"), True)],
)
def test_a_load_failure_is_one_line_unless_it_is_a_bug(
    settings_factory: Callable[..., Settings],
    caplog: pytest.LogCaptureFixture,
    error: Exception,
    traceback: bool,
) -> None:
    def failing(*_: object) -> object:
        raise error

    caplog.set_level(logging.CRITICAL, logger="gigaam_api.app")
    live = start_server(settings_factory(), wait_ready=False, factory=failing)
    try:
        wait_until(lambda: live.state.load_error is not None, "the load failed")
    finally:
        live.stop()

    assert live.state.load_error == str(error)
    (record,) = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert record.getMessage() == str(error)
    assert bool(record.exc_info) == traceback
