"""The pipeline's assembly: one transcriber per served model over the VAD and the per-device schedulers.

The app's lifespan and the file-mode CLI both build their pipeline here, so neither needs the other.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from gigaam_api.config import Settings
from gigaam_api.engines.base import ASREngine
from gigaam_api.engines.registry import create_engine, declared_capabilities
from gigaam_api.live.codecs import scipy_signal
from gigaam_api.metrics import Metrics
from gigaam_api.pipeline.devices import DeviceSchedulers, streams_by_device
from gigaam_api.pipeline.protocol import Transcriber
from gigaam_api.pipeline.run import RunParts
from gigaam_api.pipeline.scheduler import InferenceScheduler
from gigaam_api.pipeline.served import ServedModels
from gigaam_api.pipeline.transcriber import PipelineTranscriber
from gigaam_api.pipeline.unloadable import UnloadableEngine
from gigaam_api.speakers.clustering import scipy_hierarchy
from gigaam_api.speakers.registry import LazyEmbedder
from gigaam_api.vad.silero import SileroVad

if TYPE_CHECKING:
    from prometheus_client import Gauge

log = logging.getLogger(__name__)


def build_transcriber(
    settings: Settings,
    metrics: Metrics | None = None,
    *,
    wrap_engine: Callable[[ASREngine], ASREngine] | None = None,
) -> tuple[Transcriber, Callable[[], None]]:
    """Fetch weights if needed, load the default engine and the VAD; return the transcriber and its shutdown.

    Every other model in MODELS starts unloaded and loads on its first batch. Engines on one device
    share that device's scheduler (one batch per inference stream at a time there, short requests first;
    every engine on it built for that many streams); engines on different devices never wait for each
    other. `wrap_engine` lets tests slow engines down or watch them.
    """
    metrics = metrics or Metrics()
    vad = SileroVad(num_threads=1)
    on_device: dict[str, list[UnloadableEngine]] = {}
    declared = {model: declared_capabilities(settings.for_model(model)) for model in settings.served_models}
    streams = streams_by_device(settings.NUM_THREADS, settings.INFERENCE_STREAMS, declared.values())

    def scheduler(device: str) -> InferenceScheduler:
        return InferenceScheduler(
            on_first_batch=metrics.queue_wait.observe,
            idle_seconds=settings.IDLE_UNLOAD_SECONDS,
            on_idle=partial(_unload_all, on_device.setdefault(device, [])),
            streams=streams.get(device, 1),
        )

    schedulers = DeviceSchedulers(scheduler)
    # One speaker model for every served model; it runs on the CPU's inference workers (after a batch).
    speakers = LazyEmbedder(settings, streams.get("cpu", 1))
    by_model: dict[str, Transcriber] = {}
    for model in settings.served_models:
        device_streams = streams[declared[model].device]
        model_settings = settings.for_model(model).model_copy(update={"INFERENCE_STREAMS": device_streams})
        loaded = create_engine(model_settings) if model == settings.MODEL else None
        caps = loaded.capabilities if loaded is not None else declared_capabilities(model_settings)
        unloadable = UnloadableEngine(
            partial(create_engine, model_settings),
            loaded,
            capabilities=caps,
            on_state=partial(_show_loaded, metrics.model_loaded.labels(model)),
            on_loaded=metrics.model_load_seconds.labels(model).set,
            on_batch=metrics.batch_seconds.labels(model).observe,
        )
        if loaded is None:
            log.info("%s is configured on %s; it loads on first use", model, caps.device)
        on_device.setdefault(caps.device, []).append(unloadable)
        engine: ASREngine = unloadable if wrap_engine is None else wrap_engine(unloadable)
        parts = RunParts(
            settings,
            engine,
            vad,
            schedulers.for_device(caps.device),
            on_finished=metrics.finished,
            speakers=speakers,
        )
        by_model[model] = PipelineTranscriber(parts, model_state=partial(_state_of, unloadable))
    served = ServedModels(by_model, settings.MODEL, batches_run=lambda: schedulers.batches_run)
    # SciPy (the live resampler, a diarized run's last pass) takes about 2 s to import: on a thread of its
    # own once the engine is loaded, so neither the start nor, later, the event loop of the first live
    # session at 24 kHz or in G.711 waits for it.
    threading.Thread(target=_import_scipy, name="import-scipy", daemon=True).start()
    return served, schedulers.stop


def _import_scipy() -> None:
    # A start short of file descriptors (a flood of connections at a low `ulimit -n`) must not print a
    # traceback from a thread nobody waits on; the first use imports SciPy again.
    try:
        scipy_signal()
        scipy_hierarchy()
    except (OSError, ImportError) as error:  # EMFILE: a file read raises OSError, a dlopen ImportError
        reason = error.strerror if isinstance(error, OSError) and error.strerror else error
        log.warning("SciPy was not preloaded (%s); it loads on first use", reason)


def _show_loaded(gauge: Gauge, state: str) -> None:
    gauge.set(state == "loaded")


def _state_of(engine: UnloadableEngine) -> str:
    return engine.state


def _unload_all(engines: list[UnloadableEngine]) -> None:
    for engine in engines:
        engine.unload()
