"""Console entry point: `gigaam-api serve | download | transcribe FILE...`."""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from gigaam_api.config import ConfigError, Settings, deprecation_notes, load_settings
from gigaam_api.engines.registry import resolve_settings
from gigaam_api.formats.render import RESPONSE_FORMATS
from gigaam_api.logs import configure_logging
from gigaam_api.options.form import MAX_SPEAKERS

if TYPE_CHECKING:
    from gigaam_api.app import TranscriberFactory


def _serve(settings: Settings, factory: TranscriberFactory | None) -> int:
    import uvicorn

    from gigaam_api.api.connections import server_config
    from gigaam_api.api.shutdown import SETTLE_SECONDS, GracefulShutdown
    from gigaam_api.app import build_transcriber, create_app
    from gigaam_api.engines.base import EngineUnavailableError
    from gigaam_api.engines.registry import ensure_weights
    from gigaam_api.jobs.store import JobStoreUnavailableError
    from gigaam_api.listen import EXIT_CANNOT_LISTEN, CannotListenError, bind

    class GracefulServer(uvicorn.Server):
        """The first SIGTERM/SIGINT drains (`GracefulShutdown`) before uvicorn stops; a second forces it.

        uvicorn's own handler would re-raise the signal at exit (status -15); a drained exit is status 0.
        """

        def __init__(self, config: uvicorn.Config, shutdown: GracefulShutdown) -> None:
            super().__init__(config)
            self._shutdown = shutdown
            self._draining = False

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            if self._draining or self.should_exit:
                super().handle_exit(sig, frame)
                return
            self._draining = True
            self._shutdown.begin(self.stop)

        def stop(self) -> None:
            self.should_exit = True

    try:  # fetch (or find) every served model's weights before binding the port: missing ones stop the start
        for model in settings.served_models:
            ensure_weights(settings.for_model(model))
    except EngineUnavailableError as exc:
        print(f"gigaam-api: {exc}", file=sys.stderr)
        return 1
    try:  # bound here, not by uvicorn: a busy port is a plain message and its own exit status
        sockets = bind(settings.HOST, settings.PORT)
    except CannotListenError as exc:
        print(f"gigaam-api: {exc}", file=sys.stderr)
        return EXIT_CANNOT_LISTEN
    server: uvicorn.Server | None = None

    def stop_serving() -> None:
        if server is not None:
            server.should_exit = True

    try:
        app = create_app(settings, factory=factory or build_transcriber, on_fatal=stop_serving)
    except JobStoreUnavailableError as exc:
        print(f"gigaam-api: {exc}", file=sys.stderr)
        return 1
    config = server_config(
        app,
        settings,
        # Only a backstop: requests are drained before uvicorn's own shutdown begins.
        timeout_graceful_shutdown=math.ceil(settings.SHUTDOWN_GRACE_SECONDS + SETTLE_SECONDS),
    )
    server = GracefulServer(config, app.state.gigaam.shutdown)
    server.run(sockets=sockets)  # uvicorn's "running on" line is left out: "ready — open …" comes at load
    error = app.state.gigaam.load_error
    if error:
        print(f"gigaam-api: {error}", file=sys.stderr)
        return 1
    return 0


def _download(settings: Settings) -> int:
    from gigaam_api.engines.base import EngineUnavailableError
    from gigaam_api.engines.registry import fetch_weights
    from gigaam_api.speakers import weights as speaker_weights

    for model in settings.served_models:  # MODEL, and every other model in MODELS
        try:
            model_dir = fetch_weights(settings.for_model(model))
        except EngineUnavailableError as exc:
            print(f"gigaam-api: {exc}", file=sys.stderr)
            return 1
        print(f"{model}: all files present in {model_dir}")
    try:  # diarization's speaker model: small, and wanted by any request that asks for speakers
        speaker_dir = speaker_weights.fetch(settings)
    except EngineUnavailableError as exc:
        print(f"gigaam-api: {exc}", file=sys.stderr)
        return 1
    print(f"{settings.SPEAKER_MODEL}: all files present in {speaker_dir}")
    return 0


def _warn_deprecated(settings: Settings) -> None:
    for note in deprecation_notes(settings):
        logging.getLogger("gigaam_api.config").warning(note)


def _transcribe(args: argparse.Namespace) -> int:
    """Transcribe local files through the same pipeline as the server, without HTTP."""
    from gigaam_api.cli_transcribe.plan import UsageError, choose_format, expand, plan
    from gigaam_api.cli_transcribe.run import summary, transcribe_files
    from gigaam_api.engines.base import EngineUnavailableError
    from gigaam_api.errors import APIError
    from gigaam_api.options.form import parse_transcription_form

    overrides = {name: value for name, value in _setting_flags(args).items() if value is not None}
    unknown = [name for name in overrides if name not in Settings.model_fields]
    if unknown:
        print(f"gigaam-api: this version has no {', '.join(unknown)} setting", file=sys.stderr)
        return 2
    try:
        settings = resolve_settings(load_settings(**overrides))
        fmt = choose_format(args.format, args.output)
        tasks = plan(expand(args.files), fmt, args.output)
        options = parse_transcription_form(_request_fields(args))
        if options.include_logprobs and fmt != "json":  # the API's other formats carry none either
            raise UsageError(
                f"--logprobs needs -f json: token log-probabilities come in json only, not {fmt}"
            )
    except (ConfigError, UsageError) as exc:
        print(f"gigaam-api: {exc}", file=sys.stderr)
        return 2
    except APIError as exc:
        print(f"gigaam-api: {exc.message}", file=sys.stderr)
        return 2
    # The pipeline's INFO lines are for server logs; here they would break into the progress bars.
    level = settings.LOG_LEVEL if "LOG_LEVEL" in settings.model_fields_set else "WARNING"
    configure_logging(level, settings.LOG_FORMAT)
    _warn_deprecated(settings)
    show_progress = not args.quiet and sys.stderr.isatty()
    diarization = None
    if args.diarize or args.speakers is not None or args.per_channel or fmt == "diarized_json":
        from gigaam_api.speakers.options import DiarizationOptions

        diarization = DiarizationOptions(speakers=args.speakers, per_channel=args.per_channel)
    try:
        outcome = transcribe_files(
            settings,
            tasks,
            fmt,
            words=args.words,
            show_progress=show_progress,
            options=options,
            diarization=diarization,
        )
    except EngineUnavailableError as exc:
        print(f"gigaam-api: {exc}", file=sys.stderr)
        return 1
    except APIError as exc:  # options the model cannot honour (keywords on a model that cannot bias)
        print(f"gigaam-api: {exc.message}", file=sys.stderr)
        return 2
    if outcome.interrupted:
        print("gigaam-api: interrupted", file=sys.stderr)
    if not args.quiet:
        print(summary(outcome), file=sys.stderr)
    return 130 if outcome.interrupted else 1 if outcome.failed else 0


# `transcribe` flags that set a setting for this run, over the environment and .env.
_SETTING_FLAGS = {
    "model": "MODEL",
    "runtime": "GIGAAM_RUNTIME",
    "precision": "GIGAAM_PRECISION",
    "numbers": "NUMBERS",
}


def _setting_flags(args: argparse.Namespace) -> dict[str, str | None]:
    return {setting: getattr(args, flag) for flag, setting in _SETTING_FLAGS.items()}


# `transcribe` flags that are request options, checked by the HTTP form's parser: the same limits and
# messages as the API. The server_vad knobs make the request's chunking_strategy server_vad.
_VAD_FLAGS = {
    "silence_duration_ms": "silence_duration_ms",
    "prefix_padding_ms": "prefix_padding_ms",
    "vad_threshold": "threshold",
}


def _request_fields(args: argparse.Namespace) -> list[tuple[str, str]]:
    fields = [("keywords[]", phrase) for phrase in args.keyword]
    if args.language is not None:
        fields.append(("language", args.language))
    fields.extend(("languages[]", code) for code in args.languages)
    if args.logprobs:
        fields.append(("include[]", "logprobs"))
    if args.keyword_boost is not None:
        fields.append(("keyword_boost", args.keyword_boost))
    vad = {key: getattr(args, flag) for flag, key in _VAD_FLAGS.items() if getattr(args, flag) is not None}
    if vad:
        fields.extend(
            (f"chunking_strategy[{key}]", value) for key, value in {"type": "server_vad", **vad}.items()
        )
    return fields


def _add_transcribe_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tr = sub.add_parser(
        "transcribe",
        help="transcribe local audio/video files",
        description="Transcribe local files with the same pipeline as the server (no HTTP). One file "
        "prints its result; several are written beside their sources or into -o DIR.",
    )
    tr.add_argument("files", nargs="+", metavar="FILE", help="audio or video files, or glob patterns")
    tr.add_argument(
        "-f",
        "--format",
        choices=RESPONSE_FORMATS,
        help="result format (default: from -o FILE's extension, else text)",
    )
    tr.add_argument(
        "-o",
        "--output",
        type=Path,
        help="a directory for the results (created if missing), or a .txt/.json/.srt/.vtt file for one input",
    )
    tr.add_argument("--words", action="store_true", help="word timestamps in verbose_json")
    tr.add_argument(
        "--diarize", action="store_true", help="name the speakers (A, B, …) in every format; docs/speakers.md"
    )
    speakers = tr.add_mutually_exclusive_group()
    speakers.add_argument(
        "--speakers", type=_speaker_count, metavar="N", help="diarize, with exactly N speakers"
    )
    speakers.add_argument(
        "--per-channel",
        action=argparse.BooleanOptionalAction,
        help="a stereo call: left channel speaker A, right B (default: detected; --no-per-channel: never)",
    )
    tr.add_argument("-q", "--quiet", action="store_true", help="no progress bars and no summary")
    tr.add_argument("--language", metavar="CODE", help="the audio's language, an ISO 639-1 code such as ru")
    tr.add_argument(
        "--languages",
        action="append",
        default=[],
        metavar="CODE",
        help="an expected language (repeatable); one is --language, several must all be the model's",
    )
    tr.add_argument(
        "--logprobs", action="store_true", help="token log-probabilities in -f json (include[]=logprobs)"
    )
    tr.add_argument(
        "--keyword",
        action="append",
        default=[],
        metavar="PHRASE",
        help="a word or phrase to prefer (repeatable; see docs/keywords.md)",
    )
    tr.add_argument(
        "--keyword-boost", metavar="NATS", help="the keywords' bonus per letter, 0-10 (default 1)"
    )
    tr.add_argument("--silence-duration-ms", metavar="MS", help="cut at every pause this long (server_vad)")
    tr.add_argument("--prefix-padding-ms", metavar="MS", help="audio kept before speech (server_vad)")
    tr.add_argument("--vad-threshold", metavar="P", help="speech probability threshold, (0, 1] (server_vad)")
    for flag, setting in _SETTING_FLAGS.items():
        tr.add_argument(f"--{flag}", help=f"overrides {setting} from the environment/.env")


def _speaker_count(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_SPEAKERS:
        raise argparse.ArgumentTypeError(f"expected a whole number from 1 to {MAX_SPEAKERS}")
    return int(text)


def main(argv: list[str] | None = None, *, factory: TranscriberFactory | None = None) -> int:
    """`factory` replaces the transcriber `serve` builds (tests use it to hold the engine at a gate)."""
    # numpy (VAD front end, features) stays on one thread: ONNX Runtime's NUM_THREADS own the cores.
    # This must happen before numpy is first imported, which the inference modules do lazily.
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    parser = argparse.ArgumentParser(prog="gigaam-api", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve", help="serve the API (HOST, PORT and the rest come from the environment/.env)")
    sub.add_parser(
        "download",
        help="fetch the weights of MODEL (and of MODELS) and of SPEAKER_MODEL into MODELS_DIR and exit",
    )
    _add_transcribe_parser(sub)
    args = parser.parse_args(argv)
    if args.command == "transcribe":
        return _transcribe(args)
    try:
        settings = resolve_settings(load_settings())
    except ConfigError as exc:
        print(f"gigaam-api: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.LOG_LEVEL, settings.LOG_FORMAT)
    _warn_deprecated(settings)
    if args.command == "download":
        return _download(settings)
    return _serve(settings, factory)


if __name__ == "__main__":
    sys.exit(main())
