"""Console entry point: `gigaam-api serve | download | transcribe FILE`."""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from gigaam_api.config import ConfigError, Settings, load_settings
from gigaam_api.formats.render import ResponseFormat
from gigaam_api.logs import configure_logging

if TYPE_CHECKING:
    from gigaam_api.app import TranscriberFactory


def _serve(settings: Settings, factory: TranscriberFactory | None) -> int:
    import uvicorn

    from gigaam_api.api.shutdown import SETTLE_SECONDS, GracefulShutdown
    from gigaam_api.app import build_transcriber, create_app
    from gigaam_api.engines.base import WeightsUnavailableError
    from gigaam_api.engines.gigaam.ir import Int8IrUnavailableError
    from gigaam_api.engines.registry import ensure_weights
    from gigaam_api.engines.runtime import RuntimeSelectionError

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

    try:  # fetch (or find) the weights before binding the port: a missing model is a start-up error
        ensure_weights(settings)
    except (WeightsUnavailableError, RuntimeSelectionError, Int8IrUnavailableError) as exc:
        print(f"gigaam-api: {exc}", file=sys.stderr)
        return 1
    server: uvicorn.Server | None = None

    def stop_serving() -> None:
        if server is not None:
            server.should_exit = True

    app = create_app(settings, factory=factory or build_transcriber, on_fatal=stop_serving)
    config = uvicorn.Config(
        app,
        host=settings.HOST,
        port=settings.PORT,
        log_config=None,
        # Only a backstop: requests are drained before uvicorn's own shutdown begins.
        timeout_graceful_shutdown=math.ceil(settings.SHUTDOWN_GRACE_SECONDS + SETTLE_SECONDS),
    )
    server = GracefulServer(config, app.state.gigaam.shutdown)
    server.run()
    error = app.state.gigaam.load_error
    if error:
        print(f"gigaam-api: {error}", file=sys.stderr)
        return 1
    return 0


def _download(settings: Settings) -> int:
    from gigaam_api.engines.base import WeightsUnavailableError
    from gigaam_api.engines.gigaam.ir import Int8IrUnavailableError
    from gigaam_api.engines.registry import fetch_weights
    from gigaam_api.engines.runtime import RuntimeSelectionError

    try:
        model_dir = fetch_weights(settings)
    except (WeightsUnavailableError, RuntimeSelectionError, Int8IrUnavailableError) as exc:
        print(f"gigaam-api: {exc}", file=sys.stderr)
        return 1
    print(f"{settings.MODEL}: all files present in {model_dir}")
    return 0


def _transcribe(settings: Settings, path: Path, fmt: ResponseFormat) -> int:
    """Transcribe a local file through the same pipeline as the server, without HTTP."""
    from gigaam_api.app import build_transcriber
    from gigaam_api.audio.spool import SpoolDir
    from gigaam_api.engines.base import EngineOptions
    from gigaam_api.errors import APIError
    from gigaam_api.formats.languages import language_name
    from gigaam_api.formats.render import render
    from gigaam_api.transcript import Segment, Transcript

    async def run() -> int:
        transcriber, stop = build_transcriber(settings)
        try:
            with SpoolDir.claim(settings.SPOOL_DIR) as spool, spool.files() as files:
                job = await transcriber.start(path, files, EngineOptions())
                try:
                    segments = [e async for e in job.events() if isinstance(e, Segment)]
                finally:
                    await job.aclose()
            transcript = Transcript(tuple(segments), job.duration or 0.0, language_name(job.language))
            sys.stdout.write(render(transcript, fmt).content.decode("utf-8"))
            if fmt in ("json", "verbose_json"):
                sys.stdout.write("\n")
            return 0
        except APIError as exc:
            print(f"gigaam-api: {exc.message}", file=sys.stderr)
            return 1
        finally:
            stop()

    return asyncio.run(run())


def main(argv: list[str] | None = None, *, factory: TranscriberFactory | None = None) -> int:
    """`factory` replaces the transcriber `serve` builds (tests use it to hold the engine at a gate)."""
    # numpy (VAD front end, features) stays on one thread: ONNX Runtime's NUM_THREADS own the cores.
    # This must happen before numpy is first imported, which the inference modules do lazily.
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    parser = argparse.ArgumentParser(prog="gigaam-api", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve", help="serve the API (HOST, PORT and the rest come from the environment/.env)")
    sub.add_parser("download", help="fetch the weights of MODEL into MODELS_DIR and exit")
    tr = sub.add_parser("transcribe", help="transcribe a local audio file and print the result")
    tr.add_argument("file", type=Path)
    tr.add_argument("--format", default="text", choices=["json", "text", "verbose_json", "srt", "vtt"])
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"gigaam-api: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.LOG_LEVEL, settings.LOG_FORMAT)
    if args.command == "download":
        return _download(settings)
    if args.command == "transcribe":
        return _transcribe(settings, args.file, args.format)
    return _serve(settings, factory)


if __name__ == "__main__":
    sys.exit(main())
