"""What the routes share: settings, admission, upload slots, spool files and (once loaded) the transcriber."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

from starlette.requests import Request

from gigaam_api.api.admission import Admission, UploadSlots
from gigaam_api.api.cancel import Cancellations
from gigaam_api.api.live_slots import LiveSlots
from gigaam_api.api.model_choice import choose_model
from gigaam_api.api.shutdown import GracefulShutdown
from gigaam_api.audio.spool import SpoolDir
from gigaam_api.config import Settings
from gigaam_api.dedup.runs import SharedRuns
from gigaam_api.engines.base import EngineOptions
from gigaam_api.engines.glossary import Glossaries
from gigaam_api.errors import busy
from gigaam_api.options.engine import engine_options
from gigaam_api.options.transcription import TranscriptionOptions
from gigaam_api.pipeline.protocol import Transcriber
from gigaam_api.pipeline.served import served_by_model
from gigaam_api.translation.translator import Translator


@dataclass
class AppState:
    settings: Settings
    admission: Admission
    uploads: UploadSlots
    spool: SpoolDir
    transcriber: Transcriber | None = None
    load_error: str | None = None
    stop_engine: Callable[[], None] | None = None
    shutdown: GracefulShutdown = field(default_factory=partial(GracefulShutdown, 0.0))
    runs: SharedRuns = field(default_factory=partial(SharedRuns, share=False, grace_seconds=0, cache=None))
    cancellations: Cancellations = field(default_factory=Cancellations)
    live_slots: LiveSlots = field(default_factory=LiveSlots)
    glossaries: Glossaries = field(init=False)
    translator: Translator | None = None  # TRANSLATION_BASE_URL's; None: translation is off

    def __post_init__(self) -> None:
        self.glossaries = Glossaries(self.settings.KEYWORDS_FILE)

    async def close_translator(self) -> None:
        if self.translator is not None:
            await self.translator.aclose()

    def ready_transcriber(self) -> Transcriber:
        if self.transcriber is None:
            raise busy("The model is still loading; retry shortly.", "model_loading", retry_after=5)
        return self.transcriber

    def transcriber_for(
        self, model: str | None, language: str | None, languages: Sequence[str] = ()
    ) -> Transcriber:
        """The served model's Transcriber for a request's `model` and `language`, or `languages` when it
        names several (`api/model_choice.py`)."""
        by_model = served_by_model(self.ready_transcriber())
        served = [t.capabilities for t in by_model.values()]
        default = self.ready_transcriber().capabilities.model_id
        aliases = self.settings.MODEL_ALIASES
        return by_model[
            choose_model(model, language, served, default=default, aliases=aliases, languages=languages)
        ]

    def plan(self, options: TranscriptionOptions) -> tuple[Transcriber, EngineOptions]:
        """The model that takes a request and what its engine gets (the glossary merged in), or a 400."""
        transcriber = self.transcriber_for(options.model, options.language, options.languages)
        caps = transcriber.capabilities
        glossary = self.glossaries.phrases(caps.keyword_letters) if caps.keywords else ()
        return transcriber, engine_options(options, caps, glossary, default_numbers=self.settings.NUMBERS)


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.gigaam
    return state
