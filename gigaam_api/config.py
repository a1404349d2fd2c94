"""Every knob of the service, read from the environment and `.env`, validated at start."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from gigaam_api.engines.cpus import usable_cpus
from gigaam_api.engines.qwen.catalog import canonical_aligner_name
from gigaam_api.engines.registry import DEFAULT_ALIASES, DEFAULT_MODEL, canonical_model_name
from gigaam_api.vad.chunking import ChunkingSettings

# GigaAM's runtime settings; engines/runtime.py resolves them (it imports onnxruntime to probe the machine).
RuntimeSetting = Literal["auto", "onnxruntime", "openvino"]
DeviceSetting = Literal["auto", "cpu", "cuda", "gpu"]
PrecisionSetting = Literal["auto", "fp32", "int8", "bf16", "int8-bf16", "fp16"]


def default_spool_path() -> Path:
    return Path(tempfile.gettempdir()) / "gigaam-api-spool"


def default_cache_path() -> Path:
    """`$XDG_CACHE_HOME/gigaam-api`, else `~/.cache/gigaam-api`."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "gigaam-api"


class Settings(BaseSettings):
    """Field names are the environment variable names (case-insensitive)."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # Model and weights
    MODEL: str = DEFAULT_MODEL
    RUNTIME: RuntimeSetting = "auto"
    DEVICE: DeviceSetting = "auto"
    PRECISION: PrecisionSetting = "auto"
    QUANTIZATION: Literal["none", "int8"] | None = None  # older alias: none = PRECISION=fp32, int8 = int8
    MODELS_DIR: Path = Path("models")
    OFFLINE: bool = False
    NUM_THREADS: int = Field(default_factory=usable_cpus, ge=1, le=256)  # affinity and cgroup CPU quota
    # Several engines in one server (README "Several models"): every model served, MODEL the default.
    MODELS: Annotated[tuple[str, ...], NoDecode] = ()  # empty: MODEL alone
    QWEN_DEVICE: Literal["auto", "cpu", "cuda"] = "auto"
    QWEN_ALIGNER: str | None = None  # e.g. qwen3-forcedaligner-0.6b: word timestamps for Qwen3-ASR
    QWEN_MAX_NEW_TOKENS: int = Field(default=512, ge=1)  # longest text per chunk, in tokens

    # HTTP
    HOST: str = "127.0.0.1"
    PORT: int = Field(default=8000, ge=1, le=65535)
    API_KEY: Annotated[tuple[str, ...], NoDecode] = ()
    MODEL_ALIASES: Annotated[tuple[str, ...], NoDecode] = DEFAULT_ALIASES
    MAX_UPLOAD_MB: float = Field(default=1024, gt=0)
    MAX_AUDIO_SECONDS: float = Field(default=12 * 3600, gt=0)
    # Admission (docs/decisions.md): MAX_RUNNING transcriptions run, MAX_WAITING complete uploads wait in
    # line for them; only a full line is a 503. MAX_QUEUE is the older name of MAX_RUNNING.
    MAX_RUNNING: int = Field(default=8, ge=1)
    MAX_WAITING: int = Field(default=64, ge=0)
    MAX_QUEUE: int | None = Field(default=None, ge=1)
    MAX_UPLOADS: int = Field(default=72, ge=1)  # MAX_RUNNING + MAX_WAITING: a 503 only for a full line
    MAX_FORM_FIELDS_BYTES: int = Field(default=1024 * 1024, ge=1024)
    UPLOAD_IDLE_TIMEOUT_SECONDS: float = Field(default=30, gt=0)
    UPLOAD_MIN_BYTES_PER_SECOND: float = Field(default=1024, ge=0)  # 0: no minimum rate
    UPLOAD_RATE_GRACE_SECONDS: float = Field(default=10, ge=0)
    WEB_RENDER_MAX_MB: float = Field(default=16, gt=0)  # a /web/render body: the page's download request
    # While more than half the upload slots are taken, the minimum rate rises linearly to this when all are.
    UPLOAD_BUSY_MIN_BYTES_PER_SECOND: float = Field(default=32 * 1024, ge=0)
    UPLOADS_PER_CLIENT_SHARE: float = Field(default=0.25, gt=0, le=1)  # of MAX_UPLOADS, per client address
    # Connections (api/connections.py): a request head must arrive within HEADER_TIMEOUT_SECONDS; past
    # MAX_CONNECTIONS the one waiting longest for a head is closed. None: 3/4 of the open-file limit.
    HEADER_TIMEOUT_SECONDS: float = Field(default=20, gt=0)
    MAX_CONNECTIONS: int | None = Field(default=None, ge=1)
    SPOOL_DIR: Path = Field(default_factory=default_spool_path)
    SHUTDOWN_GRACE_SECONDS: float = Field(default=30, ge=0)
    # Decoded-audio budget (docs/decisions.md): a request's PCM <= max(ratio x upload, floor); all
    # requests' spool files together <= SPOOL_MAX_MB.
    MAX_DECODE_RATIO: float = Field(default=128, gt=0)
    DECODE_FLOOR_MB: float = Field(default=64, ge=0)
    SPOOL_MAX_MB: float = Field(default=8192, gt=0)
    # Decoded bytes a request reserves per upload byte (with a Content-Length) until the container
    # declares its duration: 4 covers MP3 at 64 kbit/s and up.
    SPOOL_DECODE_RATIO: float = Field(default=4, ge=0)
    MAX_LEADING_SILENCE_SECONDS: float = Field(default=600, ge=0)  # audio silent this long is refused; 0: off
    LOG_LEVEL: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    LOG_FORMAT: Literal["text", "json"] = "text"

    # Long-form pipeline
    DIRECT_MAX_SECONDS: float = Field(default=25, gt=0, le=30)
    BATCH_SECONDS: float = Field(default=22, gt=0)  # measured: beats 60 on 2 cores
    VAD_THRESHOLD: float = Field(default=0.25, gt=0, lt=1)
    VAD_NEG_THRESHOLD: float | None = Field(default=None, ge=0, lt=1)  # None: VAD_THRESHOLD - 0.15
    VAD_MIN_SPEECH_MS: int = Field(default=250, ge=0)
    VAD_MIN_SILENCE_MS: int = Field(default=100, ge=0)
    VAD_SPEECH_PAD_MS: int = Field(default=64, ge=0)
    VAD_MIN: float = Field(default=15, gt=0)
    VAD_MAX: float = Field(default=22, gt=0)
    VAD_HARD_MAX: float = Field(default=30, gt=0, le=30)
    FIRST_CHUNK_SECONDS: float = Field(default=10, ge=0, le=30)  # 0: the first chunk as the others
    PROGRESS_SECONDS: float = Field(default=2, gt=0)
    KEEPALIVE_SECONDS: float = Field(default=10, gt=0)

    # Resources
    IDLE_UNLOAD_SECONDS: float | None = Field(default=None, gt=0)  # None: keep the model loaded

    # Deduplicated retries (gigaam_api/dedup): identical requests share one run; finished ones are cached
    DEDUP: bool = True
    DEDUP_GRACE_SECONDS: float = Field(default=60, ge=0)  # a run nobody waits for lingers this long
    CACHE_DIR: Path = Field(default_factory=default_cache_path)
    CACHE_MAX_MB: float = Field(default=256, ge=0)  # 0: no result cache
    CACHE_MAX_AGE_HOURS: float = Field(default=24, gt=0)
    # Jobs (/v1/jobs): SQLite under JOBS_DIR, or Redis when JOBS_REDIS_URL is set (JOBS_DIR then shared)
    JOBS_DIR: Path = Path("data/jobs")
    JOBS_REDIS_URL: str = ""
    JOBS_WORKERS: int = Field(default=2, ge=0)  # jobs this server runs at once; 0: accept, never run
    JOBS_MAX_MB: float = Field(default=16384, gt=0)  # job audio on disk, all jobs together
    JOBS_RESULT_TTL_SECONDS: float = Field(default=7 * 86400, gt=0)
    JOBS_AUDIO_TTL_SECONDS: float = Field(default=3600, ge=0)
    JOBS_LEASE_SECONDS: float = Field(default=30, gt=0)
    JOBS_POLL_SECONDS: float = Field(default=1, gt=0)
    JOBS_SWEEP_SECONDS: float = Field(default=60, gt=0)
    JOBS_STORE_TIMEOUT_SECONDS: float = Field(default=5, gt=0)  # a store call past it: 503 store_unavailable
    JOBS_URL_HOSTS: Annotated[tuple[str, ...], NoDecode] = ()  # hosts `url` may name; empty: off
    JOBS_URL_TIMEOUT_SECONDS: float = Field(default=60, gt=0)
    JOBS_WEBHOOK_HOSTS: Annotated[tuple[str, ...], NoDecode] = ()  # hosts `callback_url` may name
    # Ports `url` and `callback_url` may name: "80,443,8000-8099" (ports and inclusive ranges)
    JOBS_URL_PORTS: Annotated[tuple[tuple[int, int], ...], NoDecode] = ((80, 80), (443, 443))
    JOBS_WEBHOOK_SECRET: str = ""
    JOBS_WEBHOOK_ATTEMPTS: int = Field(default=6, ge=1)
    JOBS_WEBHOOK_BACKOFF_SECONDS: float = Field(default=10, gt=0)  # doubled after each failure
    JOBS_WEBHOOK_TIMEOUT_SECONDS: float = Field(default=10, gt=0)  # one attempt, connect to answer
    JOBS_WEBHOOK_CONCURRENCY: int = Field(default=8, ge=1)  # deliveries in flight per server

    @field_validator("MODEL")
    @classmethod
    def _canonical_model(cls, value: str) -> str:
        return canonical_model_name(value)

    @field_validator("MODELS", mode="before")
    @classmethod
    def _canonical_models(cls, value: object) -> object:
        if isinstance(value, str):
            value = [v for v in value.split(",") if v.strip()]
        if isinstance(value, list | tuple):
            return tuple(dict.fromkeys(canonical_model_name(str(v)) for v in value))
        return value

    @field_validator("QWEN_ALIGNER", mode="before")
    @classmethod
    def _canonical_aligner(cls, value: object) -> object:
        if isinstance(value, str):
            return canonical_aligner_name(value) if value.strip() else None
        return value

    @field_validator(
        "QUANTIZATION", "LOG_FORMAT", "RUNTIME", "DEVICE", "PRECISION", "QWEN_DEVICE", mode="before"
    )
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("VAD_NEG_THRESHOLD", "IDLE_UNLOAD_SECONDS", "MAX_CONNECTIONS", mode="before")
    @classmethod
    def _empty_is_default(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("LOG_LEVEL", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("API_KEY", "MODEL_ALIASES", "JOBS_URL_HOSTS", "JOBS_WEBHOOK_HOSTS", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(v.strip() for v in value.split(",") if v.strip())
        return value

    @field_validator("JOBS_URL_PORTS", mode="before")
    @classmethod
    def _port_ranges(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        ranges = []
        for item in (v.strip() for v in value.split(",")):
            if item:
                low, _, high = item.partition("-")
                first, last = int(low), int(high or low)  # a ValueError names the setting
                if not 1 <= first <= last <= 65535:
                    raise ValueError(f"{item!r} is not a port or a range of ports (1-65535)")
                ranges.append((first, last))
        return tuple(ranges)

    @model_validator(mode="after")
    def _chunk_limits(self) -> Settings:
        if not self.VAD_MIN <= self.VAD_MAX <= self.VAD_HARD_MAX:
            raise ValueError("VAD_MIN <= VAD_MAX <= VAD_HARD_MAX must hold")
        try:
            self.chunking()
        except ValueError as exc:  # found at start-up, not as a 500 on the first long request
            raise ValueError(
                f"the VAD_* and FIRST_CHUNK_SECONDS settings do not fit together: {exc}"
            ) from None
        return self

    def chunking(self, max_chunk_seconds: float = 30.0) -> ChunkingSettings:
        """The chunker's settings for an engine that takes chunks of up to `max_chunk_seconds`."""
        return ChunkingSettings(
            threshold=self.VAD_THRESHOLD,
            neg_threshold=self.VAD_NEG_THRESHOLD,
            min_speech_ms=self.VAD_MIN_SPEECH_MS,
            min_silence_ms=self.VAD_MIN_SILENCE_MS,
            speech_pad_ms=self.VAD_SPEECH_PAD_MS,
            min_s=min(self.VAD_MIN, max_chunk_seconds),
            max_s=min(self.VAD_MAX, max_chunk_seconds),
            hard_max_s=min(self.VAD_HARD_MAX, max_chunk_seconds),
            first_max_s=self.FIRST_CHUNK_SECONDS or None,
        )

    @model_validator(mode="after")
    def _webhook_secret(self) -> Settings:
        if self.JOBS_WEBHOOK_HOSTS and not self.JOBS_WEBHOOK_SECRET:
            raise ValueError("JOBS_WEBHOOK_HOSTS needs JOBS_WEBHOOK_SECRET: receivers verify its signature")
        return self

    @model_validator(mode="after")
    def _quantization_alias(self) -> Settings:
        if self.QUANTIZATION is not None:
            implied: PrecisionSetting = "fp32" if self.QUANTIZATION == "none" else "int8"
            if self.PRECISION not in ("auto", implied):
                raise ValueError(f"QUANTIZATION={self.QUANTIZATION} contradicts PRECISION={self.PRECISION}")
            self.PRECISION = implied
        return self

    @model_validator(mode="after")
    def _max_queue_alias(self) -> Settings:
        if self.MAX_QUEUE is not None:
            if "MAX_RUNNING" in self.model_fields_set and self.MAX_RUNNING != self.MAX_QUEUE:
                raise ValueError(f"MAX_QUEUE={self.MAX_QUEUE} contradicts MAX_RUNNING={self.MAX_RUNNING}")
            self.MAX_RUNNING = self.MAX_QUEUE
        return self

    @model_validator(mode="after")
    def _default_is_served(self) -> Settings:
        if self.MODELS and "MODEL" not in self.model_fields_set:
            self.MODEL = self.MODELS[0]
        elif self.MODELS and self.MODEL not in self.MODELS:
            raise ValueError(
                f"MODEL={self.MODEL} (the default) must be one of MODELS={','.join(self.MODELS)}"
            )
        return self

    @property
    def served_models(self) -> tuple[str, ...]:
        """Every model this server serves, the default (MODEL) first."""
        return (self.MODEL, *(m for m in self.MODELS if m != self.MODEL))

    def for_model(self, model: str) -> Settings:
        """These settings with `model` as MODEL: what the registry builds that model's engine from."""
        return self.model_copy(update={"MODEL": model})

    @property
    def model_dir(self) -> Path:
        return self.MODELS_DIR / self.MODEL

    @property
    def max_upload_bytes(self) -> int:
        return int(self.MAX_UPLOAD_MB * 1024 * 1024)

    @property
    def uploads_per_client(self) -> int:
        return max(1, int(self.UPLOADS_PER_CLIENT_SHARE * self.MAX_UPLOADS))

    @property
    def upload_slow_rate(self) -> float:
        """Below this an upload's slot may go to a newcomer when all are taken; 0 without a minimum rate."""
        return self.UPLOAD_BUSY_MIN_BYTES_PER_SECOND if self.UPLOAD_MIN_BYTES_PER_SECOND > 0 else 0.0

    @property
    def decode_floor_bytes(self) -> int:
        return int(self.DECODE_FLOOR_MB * 1024 * 1024)

    @property
    def spool_max_bytes(self) -> int:
        return int(self.SPOOL_MAX_MB * 1024 * 1024)

    @property
    def cache_max_bytes(self) -> int:
        return int(self.CACHE_MAX_MB * 1024 * 1024)

    @property
    def jobs_max_bytes(self) -> int:
        return int(self.JOBS_MAX_MB * 1024 * 1024)


class ConfigError(Exception):
    """Invalid settings; the message names each offending variable."""


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            name = ".".join(str(p) for p in err["loc"]) or "settings"
            lines.append(f"  {name}: {err['msg']} (got {err.get('input')!r})")
        raise ConfigError("Invalid configuration:\n" + "\n".join(lines)) from None
