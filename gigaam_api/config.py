"""Every knob of the service, read from the environment and `.env`, validated at start."""

from __future__ import annotations

import importlib.util
import os
import tempfile
from pathlib import Path
from typing import Annotated, Literal

import httpx
from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from gigaam_api.cpus import usable_cpus
from gigaam_api.engine_settings.gigaam import GigaamSettings
from gigaam_api.engine_settings.qwen import QwenSettings
from gigaam_api.transcript import NumberStyle

# Model names are checked, and made canonical, by the engine registry when the settings are resolved
# (engines/registry.py: resolve_settings): this module imports no engine. Each family's own settings are
# a model in engine_settings/, composed here.
DEFAULT_MODEL = "gigaam-v3-ctc"
# `gpt-4o-transcribe-diarize` also turns diarization on (docs/speakers.md).
DEFAULT_ALIASES = ("whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe", "gpt-4o-transcribe-diarize")

SpeakerModel = Literal[
    "wespeaker-voxceleb-campplus", "wespeaker-voxceleb-resnet34-lm"
]  # the keys of speakers/catalog.py's MODELS
SpeakerRuntime = Literal["auto", "onnxruntime", "openvino"]  # resolved by speakers/runtime.py
SpeakerPrecision = Literal["auto", "fp32", "bf16"]


def default_spool_path() -> Path:
    return Path(tempfile.gettempdir()) / "gigaam-api-spool"


def default_cache_path() -> Path:
    """`$XDG_CACHE_HOME/gigaam-api`, else `~/.cache/gigaam-api`."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "gigaam-api"


class Settings(QwenSettings, GigaamSettings, BaseSettings):
    """Field names are the environment variable names (case-insensitive). Each engine family's own
    settings (`GIGAAM_*`, `QWEN_*`) are defined in `engine_settings/` and come first in the fields' order."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # Model and weights
    MODEL: str = Field(
        default=DEFAULT_MODEL,
        description=(
            "model to serve: `gigaam-v3-ctc`, `gigaam-v3-rnnt`, `gigaam-v3-e2e-ctc`, "
            "`gigaam-v3-e2e-rnnt`, `gigaam-v2-ctc`, `gigaam-v2-rnnt` (short forms such as "
            "`v3_ctc` work too)"
        ),
    )
    MODELS_DIR: Path = Field(
        default=Path("models"),
        description="weights live in `MODELS_DIR/<MODEL>/`",
    )
    OFFLINE: bool = Field(
        default=False,
        description="`true`: never contact the Hugging Face hub; missing weights stop the start",
    )
    SPEAKER_MODEL: SpeakerModel = Field(
        default="wespeaker-voxceleb-campplus",
        description=(
            "the speaker-embedding model for diarization, in `MODELS_DIR/<SPEAKER_MODEL>/` (fetched on "
            "first use and by `gigaam-api download`): `wespeaker-voxceleb-campplus` (CAM++) or "
            "`wespeaker-voxceleb-resnet34-lm` (ResNet34, 2.4 times CAM++'s CPU time per window); "
            "see docs/speakers.md"
        ),
    )
    SPEAKER_RUNTIME: SpeakerRuntime = Field(
        default="auto",
        description=(
            "the speaker model's runtime: `auto` (OpenVINO on x86-64 CPUs with AVX-512, else ONNX Runtime), "
            "`onnxruntime` or `openvino`; see docs/speakers.md"
        ),
    )
    SPEAKER_PRECISION: SpeakerPrecision = Field(
        default="auto",
        description=(
            "the speaker model's precision: `auto` (bf16 where OpenVINO runs it on a CPU with bf16 "
            "instructions, else fp32), `fp32` or `bf16` (OpenVINO, AVX512_BF16 or AMX)"
        ),
    )
    NUM_THREADS: int = Field(
        default_factory=usable_cpus,
        ge=1,
        le=256,
        description=(
            "inference threads for the ASR model (1–256): ONNX Runtime intra-op (inter-op is "
            "always 1), OpenVINO `INFERENCE_NUM_THREADS`. Default: the CPUs in the process's "
            "affinity set (`taskset`, `cpuset`), capped by its cgroup CPU quota (a container's "
            "`cpus: 2.5`, systemd's `CPUQuota=`; cgroup v1 and v2) rounded down, at least 1"
        ),
        json_schema_extra={"computed_default": "the CPUs this process may use"},
    )
    INFERENCE_STREAMS: Literal["auto"] | Annotated[int, Field(ge=1, le=64)] = Field(
        default="auto",
        description=(
            "inferences that run at once on the CPU, each on its share of `NUM_THREADS` (OpenVINO CPU "
            "streams sharing one copy of the weights; ONNX Runtime one session, and one copy of the "
            "weights, per stream): concurrent long jobs then run side by side instead of taking turns, "
            "while a job alone runs on its stream's threads only. `auto`: one stream per 8 threads, at "
            "most 4, so up to 15 threads keep one stream; an integer (1–64, at most `NUM_THREADS`) sets "
            "it. Engines that cannot run two calls at once (Qwen3-ASR) and GPUs keep one"
        ),
    )
    # Several engines in one server (docs/models-and-runtimes.md): every model served, MODEL the default.
    MODELS: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description=(
            "several models in one server, comma-separated, e.g. `gigaam-v3-ctc,qwen3-asr-0.6b` "
            "(see Several models and Qwen3-ASR); empty: `MODEL` alone. `MODEL` is the default and"
            " must be listed; unset, the first listed is the default"
        ),
    )
    KEYWORDS_FILE: Path | None = Field(
        default=None,
        description=(
            "a glossary: phrases (one a line, `#` starts a comment) every request's `keywords` are "
            "merged with, on engines that take keywords (see docs/keywords.md); re-read when the file "
            "changes. Unset: no glossary"
        ),
    )

    NUMBERS: NumberStyle = Field(
        default="words",
        description=(
            "how numbers are written when a request does not say (its `numbers` field): `words` as "
            'recognised, or `digits` ("двадцать пять тысяч триста рублей" → "25 300 рублей"; needs the '
            "`numbers` extra, see docs/numbers.md)"
        ),
    )

    # HTTP
    HOST: str = Field(
        default="127.0.0.1",
        description="address to bind (the Docker image sets `0.0.0.0`)",
    )
    PORT: int = Field(
        default=8000,
        ge=1,
        le=65535,
        description="port to bind",
    )
    API_KEY: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="empty: no authentication. One key or a comma-separated list of keys",
    )
    MODEL_ALIASES: Annotated[tuple[str, ...], NoDecode] = Field(
        default=DEFAULT_ALIASES,
        description=(
            "comma-separated model ids that clients may send for the served model (with `MODELS`:"
            " ids that route by `language`)"
        ),
    )
    MAX_UPLOAD_MB: float = Field(
        default=1024,
        gt=0,
        description="largest accepted upload, in MiB; larger uploads get 413",
    )
    MAX_AUDIO_SECONDS: float = Field(
        default=12 * 3600,
        gt=0,
        description=(
            "longest accepted audio (12 h); longer audio gets 400: before anything is decoded "
            "when the container stores its duration (WAV, FLAC, Ogg, MP4/M4A, Matroska/WebM with "
            "a duration; more than 1 s over the limit), else as soon as decoding passes the limit"
        ),
    )
    # Admission (docs/decisions.md): MAX_RUNNING transcriptions run, MAX_WAITING complete uploads wait in
    # line for them; only a full line is a 503. MAX_QUEUE is the older name of MAX_RUNNING.
    MAX_RUNNING: int = Field(
        default=8,
        ge=1,
        description=(
            "transcriptions running at once (each has a decoder and a VAD thread and its decoded "
            "audio on disk); the next complete upload waits in line for one"
        ),
    )
    MAX_WAITING: int = Field(
        default=64,
        ge=0,
        description=(
            "complete uploads waiting in line (first come, first served) for a running slot; a "
            "waiting request holds only its upload on disk. Only when the line is full does the "
            "next one get 503 `queue_full` with `Retry-After`. `0`: no line"
        ),
    )
    MAX_QUEUE: int | None = Field(
        default=None,
        ge=1,
        description=(
            "older name of `MAX_RUNNING` (it was the whole limit before the line existed); if "
            "both are set they must agree"
        ),
        json_schema_extra={"replaced_by": "MAX_RUNNING"},
    )
    MAX_UPLOADS: int = Field(
        default=72,
        ge=1,
        description=(
            "uploads streaming in at once; the next one gets 503 `too_many_uploads` with "
            "`Retry-After`. Unless set, `MAX_RUNNING + MAX_WAITING` (72 by default): as many uploads "
            "as the line can take, so a burst is refused only when the line would be full anyway"
        ),
        json_schema_extra={"computed_default": "MAX_RUNNING + MAX_WAITING"},
    )
    MAX_FORM_FIELDS_BYTES: int = Field(
        default=1024 * 1024,
        ge=1024,
        description=(
            "all form fields other than `file` together (values, part headers, boundaries), in "
            "bytes; more gets 413 `fields_too_large`. Each field is also capped at 64 KiB and the"
            " form at 1000 fields (400)"
        ),
    )
    UPLOAD_IDLE_TIMEOUT_SECONDS: float = Field(
        default=30,
        gt=0,
        description=(
            "an upload that sends nothing for this long gets 408 `upload_timeout` and the "
            "connection is closed"
        ),
    )
    UPLOAD_MIN_BYTES_PER_SECOND: float = Field(
        default=1024,
        ge=0,
        description=(
            "slowest accepted average upload rate, counted after the grace period; slower uploads"
            " get 408 `upload_too_slow` and the connection is closed (`0`: no minimum)"
        ),
    )
    UPLOAD_RATE_GRACE_SECONDS: float = Field(
        default=10,
        ge=0,
        description=(
            "time an upload gets before the minimum rate applies; each byte received buys "
            "`1/UPLOAD_MIN_BYTES_PER_SECOND` s more"
        ),
    )
    WEB_RENDER_MAX_MB: float = Field(
        default=16,
        gt=0,
        description=(
            "largest body of the page's `POST /web/render` (its downloads), in MiB; more gets 413"
            " `request_too_large`"
        ),
    )
    # While more than half the upload slots are taken, the minimum rate rises linearly to this when all are.
    UPLOAD_BUSY_MIN_BYTES_PER_SECOND: float = Field(
        default=32 * 1024,
        ge=0,
        description=(
            "the minimum rate when the upload slots run short: `UPLOAD_MIN_BYTES_PER_SECOND` "
            "while at most half of `MAX_UPLOADS` are taken, rising linearly to this when all are."
            " An upload below the rate in force is cut with 408 `upload_too_slow` at its next "
            "bytes, so trickling uploads are cut until half the slots are free again. With every "
            "slot taken, a new upload takes the slot of the slowest upload that has run for at "
            "least 1 s and averages below this rate; that one is cut with 408 at its next bytes. "
            "Neither applies when the minimum is `0`"
        ),
    )
    UPLOADS_PER_CLIENT_SHARE: float = Field(
        default=0.25,
        gt=0,
        le=1,
        description=(
            "share of `MAX_UPLOADS` one client address may hold at once (at least 1; IPv6 clients"
            " count per /64); one more gets 429 `too_many_uploads_from_client` with "
            "`Retry-After`. `1`: no per-client limit. Behind a reverse proxy the address comes "
            "from `X-Forwarded-For`, which uvicorn trusts only from `FORWARDED_ALLOW_IPS` (its "
            "own variable, default `127.0.0.1`): set it to the proxy's address, else every client"
            " counts as the proxy"
        ),
    )
    # Connections (api/connections.py): a request head must arrive within HEADER_TIMEOUT_SECONDS; past
    # MAX_CONNECTIONS the one waiting longest for a head is closed. None: 3/4 of the open-file limit.
    HEADER_TIMEOUT_SECONDS: float = Field(
        default=20,
        gt=0,
        description=(
            "a request's head (request line and headers) must arrive within this many seconds of "
            "the server starting to wait for it (the connection opened, or the previous response "
            "ended), however slowly it trickles; else the connection is closed. A connection idle"
            " after a response is closed after 5 s (uvicorn's keep-alive timeout)"
        ),
    )
    MAX_CONNECTIONS: int | None = Field(
        default=None,
        ge=1,
        description=(
            "open connections at most; one more closes the connection that has waited longest for"
            " a request head (never one with a request in progress), as nginx reuses idle "
            "keep-alive connections. At the open-file limit (`EMFILE` on accept) the log gets one"
            " line a minute with the count of failed accepts"
        ),
        json_schema_extra={"computed_default": "3/4 of the open-file limit"},
    )
    SPOOL_DIR: Path = Field(
        default_factory=default_spool_path,
        description=(
            "per-request temporary files (upload, decoded PCM), in a subdirectory owned by this "
            "process; what stopped instances left is removed at start"
        ),
        json_schema_extra={"computed_default": "<system temp dir>/gigaam-api-spool"},
    )
    SHUTDOWN_GRACE_SECONDS: float = Field(
        default=30,
        ge=0,
        description=(
            "after SIGTERM, how long running requests may take before they are ended (see Shutdown)"
        ),
    )
    # Decoded-audio budget (docs/decisions.md): a request's PCM <= max(ratio x upload, floor); all
    # requests' spool files together <= SPOOL_MAX_MB.
    MAX_DECODE_RATIO: float = Field(
        default=128,
        gt=0,
        description=(
            "a request's decoded audio (16 kHz 16-bit PCM) may be at most this many times its upload's size…"
        ),
    )
    DECODE_FLOOR_MB: float = Field(
        default=64,
        ge=0,
        description=(
            "…but every upload may decode to at least this many MiB (≈ 35 min); past the larger "
            "of the two → 400"
        ),
    )
    SPOOL_MAX_MB: float = Field(
        default=8192,
        gt=0,
        description=(
            "disk all requests' spool files (uploads and decoded PCM) may use together; past it →"
            " 503 `spool_full`"
        ),
    )
    # Decoded bytes a request reserves per upload byte (with a Content-Length) until the container
    # declares its duration: 4 covers MP3 at 64 kbit/s and up.
    SPOOL_DECODE_RATIO: float = Field(
        default=4,
        ge=0,
        description=(
            "decoded bytes an upload with a `Content-Length` reserves per byte, before its body "
            "is read, until the container declares its duration (see Long audio)"
        ),
    )
    MAX_LEADING_SILENCE_SECONDS: float = Field(
        default=600,
        ge=0,
        description=(
            "audio whose first this-many seconds hold no sample above −60 dBFS is refused there "
            'with 400 (`"The audio is silent: …"`) instead of being decoded and spooled in full; '
            "sound anywhere in them ends the check, so pauses of any length later on never count."
            " `0`: off"
        ),
    )
    LOG_LEVEL: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO",
        description="`DEBUG`, `INFO`, `WARNING` or `ERROR`",
    )
    LOG_FORMAT: Literal["text", "json"] = Field(
        default="text",
        description=(
            "`text` or `json` (one JSON object per line); every line carries the request id. "
            "Uncaught exceptions in worker threads and Python warnings go through the same "
            "handler, so with `json` nothing else reaches stderr"
        ),
    )

    # Live transcription (/v1/realtime, /ws/transcribe; docs/realtime.md)
    LIVE_MAX_SESSIONS: int = Field(
        default=8,
        ge=0,
        description=(
            "live transcription sockets open at once; the next one gets an `error` event "
            "(`too_many_sessions`) and is closed. 0 turns live transcription off"
        ),
    )
    LIVE_IDLE_SECONDS: float = Field(
        default=60,
        gt=0,
        description=(
            "a live socket that sends nothing for this long gets an `idle_timeout` error and is closed"
        ),
    )
    LIVE_MAX_SESSION_SECONDS: float = Field(
        default=3600,
        gt=0,
        description=(
            "a live socket is closed (`session_expired`) after this long; its buffered speech is "
            "transcribed first"
        ),
    )
    LIVE_MAX_UTTERANCE_SECONDS: float = Field(
        default=20,
        gt=0,
        le=30,
        description=(
            "an utterance (speech without a long enough pause, or a manual buffer) is committed and "
            "transcribed when it reaches this length; at most the engine's longest chunk"
        ),
    )
    LIVE_MAX_BACKLOG_SECONDS: float = Field(
        default=60,
        gt=0,
        description=(
            "audio a live socket may have waiting for transcription, and how far its audio (silence "
            "too) may run ahead of real time; a client past either gets an `input_audio_buffer_overflow` "
            "error and is closed"
        ),
    )
    LIVE_PARTIAL_SECONDS: float = Field(
        default=0.5,
        gt=0,
        description=(
            "while someone speaks, the growing utterance is transcribed again after this much new audio "
            "and the new text is sent as a partial"
        ),
    )
    LIVE_CLIENT_SECRET_SECONDS: int = Field(
        default=600,
        ge=10,
        le=7200,
        description=(
            "default lifetime of a client secret from `POST /v1/realtime/client_secrets` (a request's "
            "`expires_after.seconds` may choose 10-7200)"
        ),
    )

    # Long-form pipeline
    DIRECT_MAX_SECONDS: float = Field(
        default=25,
        gt=0,
        description=(
            "for engines whose long audio is cut by the VAD (GigaAM): audio up to this long is "
            "transcribed in one inference, longer audio goes through VAD chunking; never more than the "
            "engine's longest chunk (30 s for GigaAM). Engines that take long audio whole (Qwen3-ASR) "
            "get it whole up to their limit"
        ),
    )
    # measured: 22 beats 60 on 2 cores
    BATCH_SECONDS: float = Field(
        default=22,
        gt=0,
        description=(
            "one inference batch holds chunks that add up to at most this many seconds (at least one chunk)"
        ),
    )
    VAD_THRESHOLD: float = Field(
        default=0.25,
        gt=0,
        lt=1,
        description="Silero speech probability threshold: speech starts at or above it",
    )
    VAD_NEG_THRESHOLD: float | None = Field(
        default=None,
        ge=0,
        lt=1,
        description="speech ends below this; empty means `VAD_THRESHOLD − 0.15`",
        json_schema_extra={"computed_default": "VAD_THRESHOLD - 0.15"},
    )
    VAD_MIN_SPEECH_MS: int = Field(
        default=250,
        ge=0,
        description="speech runs shorter than this are dropped",
    )
    VAD_MIN_SILENCE_MS: int = Field(
        default=100,
        ge=0,
        description="silence needed to end a speech run",
    )
    VAD_SPEECH_PAD_MS: int = Field(
        default=64,
        ge=0,
        description=(
            "padding added around each speech run (never past the middle of the gap to its neighbour)"
        ),
    )
    VAD_MIN: float = Field(
        default=15,
        gt=0,
        description="a chunk longer than this many seconds is closed at the next pause",
    )
    VAD_MAX: float = Field(
        default=22,
        gt=0,
        description="a chunk is never grown past this many seconds",
    )
    VAD_HARD_MAX: float = Field(
        default=30,
        gt=0,
        description=(
            "no chunk ever exceeds this, nor the engine's longest chunk; `VAD_MIN ≤ VAD_MAX ≤ "
            "VAD_HARD_MAX` must hold. `VAD_MIN`, `VAD_MAX` and `VAD_HARD_MAX` apply to engines whose "
            "long audio is cut by the VAD (GigaAM); one that takes long audio whole (Qwen3-ASR) has only "
            "audio past its limit cut, at pauses past its preferred chunk"
        ),
    )
    FIRST_CHUNK_SECONDS: float = Field(
        default=10,
        ge=0,
        description=(
            "the first chunk of long audio is at most this long (closed at a pause past half of "
            "it), so a stream's first text comes sooner; `0` cuts it like the others"
        ),
    )
    PROGRESS_SECONDS: float = Field(
        default=2,
        gt=0,
        description=(
            "SSE: a `transcript.progress` event (sent only with `include[]=progress`) at most this often"
        ),
    )
    KEEPALIVE_SECONDS: float = Field(
        default=10,
        gt=0,
        description="SSE: a `: ping` comment after this many seconds without an event",
    )

    # Resources
    IDLE_UNLOAD_SECONDS: float | None = Field(
        default=None,
        gt=0,
        description=(
            "empty: keep the model loaded. Otherwise release its memory after this many seconds "
            "without inference work; the next request loads it again and waits for it (a few "
            "seconds) instead of failing"
        ),
    )

    # Deduplicated retries (gigaam_api/dedup): identical requests share one run; finished ones are cached
    DEDUP: bool = Field(
        default=True,
        description=(
            "a request with the same audio bytes and the same transcript-changing options as one "
            "in flight attaches to it instead of running again"
        ),
    )
    DEDUP_GRACE_SECONDS: float = Field(
        default=60,
        ge=0,
        description=(
            "with `DEDUP`, a run whose clients have all disconnected keeps going up to this long,"
            " so a client that timed out can retry and attach; it is stopped at once when a "
            "request waits in line for a running slot, or when its last client cancelled "
            "(`DELETE`); `0`: stop it at once"
        ),
    )
    CACHE_DIR: Path = Field(
        default_factory=default_cache_path,
        description=(
            "where the result cache lives (`results.sqlite3`); keep it on a local disk. Not "
            "inside `SPOOL_DIR`: it outlives restarts and may be shared by several instances"
        ),
        json_schema_extra={"computed_default": "$XDG_CACHE_HOME/gigaam-api (~/.cache/gigaam-api)"},
    )
    CACHE_MAX_MB: float = Field(
        default=256,
        ge=0,
        description=(
            "result cache size (MiB of stored, compressed transcripts; least recently used go "
            "first); `0` turns the cache off"
        ),
    )
    CACHE_MAX_AGE_HOURS: float = Field(
        default=24,
        gt=0,
        description="a cached transcript is never served, and is deleted, once it is older than this",
    )
    # Jobs (/v1/jobs): SQLite under JOBS_DIR, or Redis when JOBS_REDIS_URL is set (JOBS_DIR then shared)
    JOBS_DIR: Path = Field(
        default=Path("data/jobs"),
        description="job audio and (embedded) the SQLite store; with Redis, a volume all replicas share",
    )
    JOBS_REDIS_URL: str = Field(
        default="",
        description=(
            "empty: the embedded SQLite store. `redis://…`: queue and state in Redis, for several replicas"
        ),
    )
    JOBS_WORKERS: int = Field(
        default=2,
        ge=0,
        description="jobs this server runs at once; `0`: accept jobs, let other replicas run them",
    )
    JOBS_MAX_MB: float = Field(
        default=16384,
        gt=0,
        description=(
            "job audio plus the SQLite file, all jobs together; past it a submission gets `503 "
            "jobs_storage_full`"
        ),
    )
    JOBS_RESULT_TTL_SECONDS: float = Field(
        default=7 * 86400,
        gt=0,
        description="a job and its result are removed this long after it ended (7 days)",
    )
    JOBS_AUDIO_TTL_SECONDS: float = Field(
        default=3600,
        ge=0,
        description="a job's audio is removed this long after it ended",
    )
    JOBS_LEASE_SECONDS: float = Field(
        default=30,
        gt=0,
        description=(
            "a running job's lease (renewed every third of it); a dead server's job is taken over"
            " once it lapses"
        ),
    )
    JOBS_POLL_SECONDS: float = Field(
        default=1,
        gt=0,
        description="how often idle workers and the webhook sender look for work",
    )
    JOBS_SWEEP_SECONDS: float = Field(
        default=60,
        gt=0,
        description="how often expired audio and jobs, and files no job owns, are removed (also at start)",
    )
    JOBS_STORE_TIMEOUT_SECONDS: float = Field(
        default=5,
        gt=0,
        description=(
            "a job-store call (SQLite or Redis) that takes longer fails: the request gets `503 "
            "store_unavailable` (also Redis's socket timeout)"
        ),
    )
    JOBS_URL_HOSTS: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="comma-separated hosts a job's `url` may name; empty: URL submission off",
    )
    JOBS_URL_TIMEOUT_SECONDS: float = Field(
        default=60,
        gt=0,
        description="the whole download of a job's `url`",
    )
    JOBS_WEBHOOK_HOSTS: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="comma-separated hosts a `callback_url` may name; empty: webhooks off",
    )
    # Ports `url` and `callback_url` may name: "80,443,8000-8099" (ports and inclusive ranges)
    JOBS_URL_PORTS: Annotated[tuple[tuple[int, int], ...], NoDecode] = Field(
        default=((80, 80), (443, 443)),
        description="ports a `url` or `callback_url` may name: ports and ranges, e.g. `80,443,8000-8099`",
    )
    JOBS_WEBHOOK_SECRET: str = Field(
        default="",
        description=(
            "HMAC-SHA256 key of the `X-GigaAM-Signature` header; required with `JOBS_WEBHOOK_HOSTS`"
        ),
    )
    JOBS_WEBHOOK_ATTEMPTS: int = Field(
        default=6,
        ge=1,
        description="delivery attempts before the webhook is `failed`",
    )
    JOBS_WEBHOOK_BACKOFF_SECONDS: float = Field(
        default=10,
        gt=0,
        description="wait after the first failed attempt, doubled after each one (at most an hour)",
    )
    JOBS_WEBHOOK_TIMEOUT_SECONDS: float = Field(
        default=10,
        gt=0,
        description=(
            "one delivery attempt, from connecting to the receiver's whole answer; slower is a failed attempt"
        ),
    )
    JOBS_WEBHOOK_CONCURRENCY: int = Field(
        default=8,
        ge=1,
        description=(
            "deliveries one server sends at once; a hung receiver holds one of them for at most the timeout"
        ),
    )

    # Translation (docs/translations.md)
    TRANSLATION_BASE_URL: str = Field(
        default="",
        description=(
            "an OpenAI-compatible chat-completions API that translates transcripts, e.g. "
            "`http://localhost:11434/v1` (Ollama); empty: `/v1/audio/translations` and `translate` are off"
        ),
    )
    TRANSLATION_MODEL: str = Field(
        default="",
        description="the model that endpoint translates with; required with `TRANSLATION_BASE_URL`",
    )
    TRANSLATION_API_KEY: str = Field(
        default="",
        description="its API key, sent as `Authorization: Bearer`; empty: none sent",
    )
    TRANSLATION_TIMEOUT_SECONDS: float = Field(
        default=120,
        gt=0,
        description="one chat-completions call, connect to last byte; slower is `504 translation_timeout`",
    )
    TRANSLATION_BATCH_SEGMENTS: int = Field(
        default=20,
        ge=1,
        description="segments per call; an answer that does not match is retried in halves, down to one",
    )
    TRANSLATION_CONCURRENCY: int = Field(
        default=2,
        ge=1,
        description="chat-completions calls one server makes at once, across all requests",
    )
    TRANSLATION_JSON_MODE: bool = Field(
        default=True,
        description=(
            'ask for `response_format={"type": "json_object"}`; `false` for a server that rejects it '
            "(answers in markdown fences are parsed either way)"
        ),
    )

    @field_validator(
        "LOG_FORMAT",
        "SPEAKER_RUNTIME",
        "SPEAKER_PRECISION",
        mode="before",
    )
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator(
        "VAD_NEG_THRESHOLD",
        "IDLE_UNLOAD_SECONDS",
        "MAX_CONNECTIONS",
        "KEYWORDS_FILE",
        mode="before",
    )
    @classmethod
    def _empty_is_default(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("LOG_LEVEL", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator(
        "API_KEY", "MODELS", "MODEL_ALIASES", "JOBS_URL_HOSTS", "JOBS_WEBHOOK_HOSTS", mode="before"
    )
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
        # Whether they fit an engine's chunks is checked when the pipeline is built (pipeline/chunk_plan.py).
        if not self.VAD_MIN <= self.VAD_MAX <= self.VAD_HARD_MAX:
            raise ValueError("VAD_MIN <= VAD_MAX <= VAD_HARD_MAX must hold")
        return self

    @model_validator(mode="after")
    def _numbers_extra(self) -> Settings:
        # As numbers.extra checks it; config may not import numbers/ (it imports engines, which read config).
        if self.NUMBERS == "digits" and importlib.util.find_spec("damga") is None:
            raise ValueError("NUMBERS=digits needs the `numbers` extra (`uv sync --extra numbers`)")
        return self

    @field_validator("TRANSLATION_BASE_URL")
    @classmethod
    def _translation_url(cls, value: str) -> str:
        # Checked here, as httpx will read it: a URL it cannot parse would fail every call with an
        # internal error, one without a scheme with a misleading "could not connect".
        if value.strip():
            try:
                url = httpx.URL(value.strip())
            except httpx.InvalidURL:
                url = None
            if url is None or url.scheme not in ("http", "https") or not url.host:
                raise ValueError("must be an http:// or https:// URL, e.g. http://localhost:11434/v1")
        return value

    @model_validator(mode="after")
    def _translation_model(self) -> Settings:
        if self.TRANSLATION_BASE_URL.strip() and not self.TRANSLATION_MODEL.strip():
            raise ValueError("TRANSLATION_BASE_URL needs TRANSLATION_MODEL: the model that translates")
        return self

    @model_validator(mode="after")
    def _webhook_secret(self) -> Settings:
        if self.JOBS_WEBHOOK_HOSTS and not self.JOBS_WEBHOOK_SECRET:
            raise ValueError("JOBS_WEBHOOK_HOSTS needs JOBS_WEBHOOK_SECRET: receivers verify its signature")
        return self

    @model_validator(mode="after")
    def _deprecated_names(self) -> Settings:
        """Every deprecated name (its field's `replaced_by`, its values read through `reads_as`) sets its
        replacement; a replacement set to something else is a contradiction (`auto` leaves it open)."""
        for old, field in type(self).model_fields.items():
            extra = field.json_schema_extra
            value = getattr(self, old)
            if not isinstance(extra, dict) or "replaced_by" not in extra or value in (None, "auto"):
                continue
            new, reads_as = str(extra["replaced_by"]), extra.get("reads_as")
            meant = reads_as[value] if isinstance(reads_as, dict) else value
            current = getattr(self, new)
            if new in self.model_fields_set and current not in ("auto", meant):
                raise ValueError(f"{old}={value} contradicts {new}={current}")
            setattr(self, new, meant)
        return self

    @model_validator(mode="after")
    def _uploads_follow_the_line(self) -> Settings:
        if "MAX_UPLOADS" not in self.model_fields_set:  # after _deprecated_names: MAX_RUNNING is final
            self.MAX_UPLOADS = self.MAX_RUNNING + self.MAX_WAITING
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


def deprecation_notes(settings: Settings) -> list[str]:
    """One line per deprecated setting in use, naming its replacement: logged once at start."""
    notes = []
    for name, field in Settings.model_fields.items():
        extra = field.json_schema_extra
        if isinstance(extra, dict) and "replaced_by" in extra and name in settings.model_fields_set:
            notes.append(f"{name} is deprecated: set {extra['replaced_by']} instead")
    return notes


class ConfigError(Exception):
    """Invalid settings; the message names each offending variable."""


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            name = ".".join(str(p) for p in err["loc"]) or "settings"
            # A check across settings got them all, keys included: quote only one setting's value.
            got = f" (got {err.get('input')!r})" if err["loc"] else ""
            lines.append(f"  {name}: {err['msg']}{got}")
        raise ConfigError("Invalid configuration:\n" + "\n".join(lines)) from None
