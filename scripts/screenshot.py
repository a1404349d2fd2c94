"""docs/web.png: the web page in use, made with the same parts as the tests.

A real server with the generated test model (`tests/fixtures/tiny_model.py`: its words are made up,
as the real weights are not available here; pass `--models-dir` with real weights for real words),
espeak-ng speech, Debian's Chromium. Batches are held so the picture shows one file finished, one
streaming and one queued. Run: `make screenshot` (or `python -m scripts.screenshot`).
"""

from __future__ import annotations

import argparse
import tempfile
import threading
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import numpy as np
import numpy.typing as npt
from playwright.sync_api import expect, sync_playwright

from gigaam_api.app import build_transcriber
from gigaam_api.config import load_settings
from gigaam_api.engines.base import ASREngine, Capabilities, ChunkResult, EngineOptions
from tests.conftest import start_server
from tests.fixtures.browser import CHROMIUM, CHROMIUM_ARGS
from tests.fixtures.speech import long_speech, write_wav
from tests.fixtures.tiny_model import write_tiny_model
from tests.integration.test_longform import PAUSES, SENTENCES

OUTPUT = Path(__file__).resolve().parent.parent / "docs" / "web.png"


class Metered:
    """The real engine, running only as many batches as `allow` has granted so far."""

    def __init__(self, inner: ASREngine) -> None:
        self.inner = inner
        self.granted = 0
        self.ran = 0
        self._cond = threading.Condition()

    @property
    def capabilities(self) -> Capabilities:
        return self.inner.capabilities

    def allow(self, batches: int) -> None:
        with self._cond:
            self.granted = self.ran + batches
            self._cond.notify_all()

    def transcribe_batch(
        self, chunks: Sequence[npt.NDArray[np.float32]], options: EngineOptions
    ) -> list[ChunkResult]:
        with self._cond:
            self._cond.wait_for(lambda: self.ran < self.granted, timeout=120)
            self.ran += 1
        return self.inner.transcribe_batch(chunks, options)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models-dir", type=Path, help="real weights (default: a generated test model)")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        models = args.models_dir
        if models is None:
            models = root / "models"
            write_tiny_model(models / "gigaam-v3-ctc", "gigaam-v3-ctc")
        meeting = write_wav(root / "meeting.wav", long_speech(SENTENCES, PAUSES[:-1])[0])
        meeting.with_name("interview.wav").write_bytes(meeting.read_bytes())
        lecture = write_wav(root / "lecture.wav", long_speech(SENTENCES * 3, (PAUSES * 3)[:-1])[0])
        holder: list[Metered] = []

        def wrap(engine: ASREngine) -> ASREngine:
            holder.append(Metered(engine))
            return holder[0]

        settings = load_settings(
            MODELS_DIR=models, OFFLINE=True, SPOOL_DIR=root / "spool", PROGRESS_SECONDS=0.001, _env_file=None
        )
        live = start_server(settings, factory=partial(build_transcriber, wrap_engine=wrap))
        engine = holder[0]
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1000, "height": 1050})
                page.set_default_timeout(120_000)
                page.goto(live.url)
                engine.allow(1000)
                page.set_input_files("#file-input", [meeting, lecture, meeting.with_name("interview.wav")])
                expect(page.locator(".job", has_text="meeting.wav")).to_have_attribute("data-state", "done")
                engine.allow(2)
                lecture_job = page.locator(".job", has_text="lecture.wav")
                expect(lecture_job.locator(".segments li")).to_have_count(2)
                expect(lecture_job.locator(".job-remaining")).not_to_be_empty()
                page.locator("#format-select").select_option("srt")
                page.mouse.move(0, 0)
                page.screenshot(path=str(args.output), full_page=True)
                browser.close()
        finally:
            engine.allow(1000)
            live.stop()
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
