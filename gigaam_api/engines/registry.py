"""Every model the service can serve, and the family of engine that runs it.

Pure: a family names its models here and the modules that fetch its weights and build its engine;
those modules (and their inference libraries) are imported only when the engine is prepared or created.
Adding an engine is one entry in `FAMILIES` plus its own modules.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, cast

from gigaam_api.engines.gigaam import catalog as gigaam_catalog
from gigaam_api.engines.qwen import catalog as qwen_catalog

if TYPE_CHECKING:
    from gigaam_api.config import Settings
    from gigaam_api.engines.base import ASREngine, Capabilities


class WeightsModule(Protocol):
    """What a family's weights module provides (its functions raise `WeightsUnavailableError`)."""

    def ensure(self, settings: Settings) -> Path:
        """The model's directory with everything the engine needs; fetch what is missing unless offline."""
        ...

    def fetch(self, settings: Settings) -> Path:
        """Fetch (or complete) everything the engine needs, ahead of time (`gigaam-api download`)."""
        ...


class FactoryModule(Protocol):
    def create(self, settings: Settings, model_dir: Path) -> ASREngine: ...

    def capabilities(self, settings: Settings) -> Capabilities:
        """What the engine will declare, known without loading it (for lazy loading and routing)."""
        ...


@dataclass(frozen=True, slots=True)
class Family:
    name: str
    models: tuple[str, ...]
    canonical: Callable[[str], str]  # a model name as users write it → its id; ValueError if not ours
    weights: str  # module implementing `WeightsModule`
    factory: str  # module implementing `FactoryModule`


FAMILIES: tuple[Family, ...] = (
    Family(
        "gigaam",
        tuple(gigaam_catalog.MODELS),
        gigaam_catalog.canonical_model_name,
        weights="gigaam_api.engines.gigaam.weights",
        factory="gigaam_api.engines.gigaam.adapter",
    ),
    Family(
        "qwen",
        tuple(qwen_catalog.MODELS),
        qwen_catalog.canonical_model_name,
        weights="gigaam_api.engines.qwen.weights",
        factory="gigaam_api.engines.qwen.adapter",
    ),
)


DEFAULT_MODEL = "gigaam-v3-ctc"
DEFAULT_ALIASES = ("whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe")


def known_models() -> list[str]:
    return [model for family in FAMILIES for model in family.models]


def canonical_model_name(value: str) -> str:
    """The model id for a name as users write it (`v3_ctc`, `GigaAM-V3-CTC`); ValueError if unknown."""
    for family in FAMILIES:
        try:
            return family.canonical(value)
        except ValueError:
            continue
    known = ", ".join(known_models())
    raise ValueError(f"unknown model {value!r}; choose one of: {known} (short forms like v3_ctc work too)")


def family_of(model: str) -> Family:
    return next(f for f in FAMILIES if model in f.models)


def _weights(settings: Settings) -> WeightsModule:
    return cast(WeightsModule, importlib.import_module(family_of(settings.MODEL).weights))


def ensure_weights(settings: Settings) -> Path:
    return _weights(settings).ensure(settings)


def fetch_weights(settings: Settings) -> Path:
    return _weights(settings).fetch(settings)


def _factory(settings: Settings) -> FactoryModule:
    return cast(FactoryModule, importlib.import_module(family_of(settings.MODEL).factory))


def declared_capabilities(settings: Settings) -> Capabilities:
    """What the engine for `settings.MODEL` will declare, without loading it."""
    return _factory(settings).capabilities(settings)


def create_engine(settings: Settings) -> ASREngine:
    """Prepare the weights (fetching them unless offline) and build the engine for `settings.MODEL`."""
    model_dir = ensure_weights(settings)
    return _factory(settings).create(settings, model_dir)
