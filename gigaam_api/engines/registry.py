"""Every model the service can serve, and the family of engine that runs it.

Pure: a family names its models here and the modules that fetch its weights and build its engine;
those modules (and their inference libraries) are imported only when the engine is prepared or created.

The built-in families are listed in `BUILT_IN`. Any installed distribution can add one through the
`gigaam_api.engines` entry-point group: each entry point names a `Family` object (docs/development.md,
"Adding an engine family"). Model names are checked and made canonical here, when the settings are
resolved at start (`resolve_settings`), because configuration imports no engine.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, cast

from gigaam_api.config import ConfigError, Settings
from gigaam_api.engines.gigaam import catalog as gigaam_catalog
from gigaam_api.engines.qwen import catalog as qwen_catalog

if TYPE_CHECKING:
    from gigaam_api.engines.base import ASREngine, Capabilities

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "gigaam_api.engines"


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


def _settings_as_given(settings: Settings) -> Settings:
    return settings


@dataclass(frozen=True, slots=True)
class Family:
    name: str
    models: tuple[str, ...]
    canonical: Callable[[str], str]  # a model name as users write it → its id; ValueError if not ours
    weights: str  # module implementing `WeightsModule`
    factory: str  # module implementing `FactoryModule`
    # The family's own settings (its `<FAMILY>_*` namespace) checked and made canonical at start; raises
    # ValueError naming the setting. Runs whether or not the family's models are served.
    check_settings: Callable[[Settings], Settings] = _settings_as_given


def _qwen_settings(settings: Settings) -> Settings:
    if settings.QWEN_ALIGNER is None:
        return settings
    try:
        aligner = qwen_catalog.canonical_aligner_name(settings.QWEN_ALIGNER)
    except ValueError as exc:
        raise ValueError(f"QWEN_ALIGNER: {exc}") from None
    return settings.model_copy(update={"QWEN_ALIGNER": aligner})


BUILT_IN: tuple[Family, ...] = (
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
        check_settings=_qwen_settings,
    ),
)


@functools.cache
def families() -> tuple[Family, ...]:
    """The built-in families, then those installed distributions declare (read once per process)."""
    found = list(BUILT_IN)
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        family = entry.load()
        if not isinstance(family, Family):
            raise TypeError(f"entry point {entry.value!r} ({ENTRY_POINT_GROUP}) is not an engine Family")
        if any(family.name == f.name or set(family.models) & set(f.models) for f in found):
            raise ValueError(f"engine family {family.name!r} ({entry.value}) clashes with one already known")
        log.debug("engine family %s from %s", family.name, entry.value)
        found.append(family)
    return tuple(found)


def known_models() -> list[str]:
    return [model for family in families() for model in family.models]


def canonical_model_name(value: str) -> str:
    """The model id for a name as users write it (`v3_ctc`, `GigaAM-V3-CTC`); ValueError if unknown."""
    for family in families():
        try:
            return family.canonical(value)
        except ValueError:
            continue
    known = ", ".join(known_models())
    raise ValueError(f"unknown model {value!r}; choose one of: {known} (short forms like v3_ctc work too)")


def resolve_settings(settings: Settings) -> Settings:
    """`settings` with canonical model names, the default model among those served, and every family's
    own settings checked; ConfigError naming the setting otherwise. The CLI and the app call it at start."""
    errors: list[str] = []

    def canonical(name: str, value: str) -> str:
        try:
            return canonical_model_name(value)
        except ValueError as exc:
            errors.append(f"  {name}: {exc} (got {value!r})")
            return value

    model = canonical("MODEL", settings.MODEL)
    models = tuple(dict.fromkeys(canonical("MODELS", m) for m in settings.MODELS))
    if models and "MODEL" not in settings.model_fields_set:
        model = models[0]  # unset, the first listed is the default
    elif models and model not in models and not errors:
        errors.append(f"  MODEL: {model} (the default) must be one of MODELS={','.join(models)}")
    resolved = settings.model_copy(update={"MODEL": model, "MODELS": models})
    for family in families():
        try:
            resolved = family.check_settings(resolved)
        except ValueError as exc:
            errors.append(f"  {exc}")
    if errors:
        raise ConfigError("Invalid configuration:\n" + "\n".join(errors))
    return resolved


def family_of(model: str) -> Family:
    for family in families():
        if model in family.models:
            return family
    raise ValueError(f"unknown model {model!r}; choose one of: {', '.join(known_models())}")


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
