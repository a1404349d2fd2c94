"""The web page in Debian's Chromium (headless, driven by Playwright) against a real server.

Timings are forced with engines that hold batches until the test lets them go; the assertions look at
what the page shows and count the server's batches, never seconds.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import shutil
import threading
import wave
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt
import pytest
from playwright.sync_api import Browser, Dialog, Page, Playwright, expect, sync_playwright

from gigaam_api.app import build_transcriber
from gigaam_api.audio.pcm import PcmSpool
from gigaam_api.audio.rate import SAMPLE_RATE
from gigaam_api.config import Settings
from gigaam_api.engines.base import ASREngine, ChunkResult, EngineOptions
from gigaam_api.web.assets import ASSETS
from tests.fixtures.browser import WAIT_MS, launch_chromium
from tests.fixtures.engines import SteppedEngine, WatchedEngine
from tests.fixtures.live_server import LiveServer, start_server
from tests.fixtures.speech import PAUSES, SENTENCES, garbage, long_speech, write_wav
from tests.fixtures.waiting import HANG_GUARD_SECONDS, wait_until

KEY = "web-test-key"


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    chromium = launch_chromium(playwright)
    yield chromium
    chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    yield page
    context.close()


@pytest.fixture(scope="module")
def meeting(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 70 s of speech: several chunks, so several batches."""
    audio, _ = long_speech(SENTENCES * 2, [*PAUSES, *PAUSES[:-1]])
    return write_wav(tmp_path_factory.mktemp("web") / "meeting.wav", audio)


@pytest.fixture
def stepped(
    settings_factory: Callable[..., Settings],
) -> Iterator[Callable[..., tuple[LiveServer, SteppedEngine]]]:
    started: list[tuple[LiveServer, SteppedEngine]] = []

    def make(**overrides: Any) -> tuple[LiveServer, SteppedEngine]:
        holder: list[SteppedEngine] = []

        def wrap(engine: ASREngine) -> ASREngine:
            holder.append(SteppedEngine(engine))
            return holder[0]

        factory = partial(build_transcriber, wrap_engine=wrap)
        live = start_server(settings_factory(**overrides), factory=factory)
        started.append((live, holder[0]))
        return live, holder[0]

    yield make
    for live, engine in started:
        engine.step(1000)
        live.stop()


@pytest.fixture
def held_decoding(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[float], threading.Event]]:
    """`hold(seconds)`: every decoder stops once it has written `seconds` of audio, until the returned
    event is set (the server runs in this process): what an hour-long file at low priority looks like."""
    gates: list[threading.Event] = []

    def hold(seconds: float) -> threading.Event:
        gate = threading.Event()
        gates.append(gate)
        append = PcmSpool.append
        limit = int(seconds * SAMPLE_RATE)

        def held_append(spool: PcmSpool, samples: npt.NDArray[np.int16]) -> None:
            if spool.available >= limit:
                assert gate.wait(HANG_GUARD_SECONDS), "the test never let decoding go on"
            append(spool, samples)

        monkeypatch.setattr(PcmSpool, "append", held_append)
        return gate

    yield hold
    for gate in gates:
        gate.set()


class OneLongWord(WatchedEngine):
    """The real engine, every chunk's text replaced by one 2000-letter word."""

    def transcribe_batch(
        self, chunks: Sequence[npt.NDArray[np.float32]], options: EngineOptions
    ) -> list[ChunkResult]:
        results = super().transcribe_batch(chunks, options)
        return [dataclasses.replace(r, text="а" * 2000, words=None, tokens=None) for r in results]


# How many results the page keeps in this browser's IndexedDB.
SAVED_RESULTS = """() => new Promise((resolve, reject) => {
    const open = indexedDB.open("gigaam-api");
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
        const count = open.result.transaction("results").objectStore("results").count();
        count.onsuccess = () => resolve(count.result);
    };
})"""


def job_named(page: Page, name: str) -> Any:
    return page.locator(".job", has_text=name)


def wave_samples(path: Path) -> int:
    with wave.open(str(path), "rb") as wav:
        return wav.getnframes()


def decoded_bytes(live: LiveServer) -> int:
    """Bytes in the request's PCM spool file (16 kHz mono int16)."""
    return sum(p.stat().st_size for p in live.state.spool.path.glob("*.pcm"))


def api_body(live: LiveServer, path: Path, response_format: str) -> bytes:
    files = {"file": (path.name, path.read_bytes())}
    response = httpx.post(
        f"{live.url}/v1/audio/transcriptions",
        data={"response_format": response_format},
        files=files,
        headers={"Authorization": f"Bearer {KEY}"},
        timeout=120,
    )
    assert response.status_code == 200, response.text
    return response.content


def download(page: Page, job: Any, fmt: str) -> bytes:
    page.select_option("#format-select", fmt)
    with page.expect_download() as info:
        job.locator(".download").click()
    path = info.value.path()
    return Path(path).read_bytes()


def test_page_and_assets_need_no_key_but_the_api_does(make_server: Callable[..., LiveServer]) -> None:
    live = make_server(API_KEY=KEY)
    page = httpx.get(live.url + "/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    sizes = [len(page.content)]
    scripts = page.text + httpx.get(f"{live.url}/web/live.js").text  # live.js loads its AudioWorklet
    for name in ASSETS:
        asset = httpx.get(f"{live.url}/web/{name}")
        assert asset.status_code == 200, name
        assert f'/web/{name}"' in scripts, "the page loads every asset it ships"
        sizes.append(len(asset.content))
    assert sum(sizes) < 200 * 1024
    assert "http" not in page.text.replace(live.url, ""), "nothing is loaded from elsewhere"
    assert httpx.get(live.url + "/v1/models").status_code == 401
    empty = {"response_format": "srt", "duration": 0, "segments": []}
    render = httpx.post(live.url + "/web/render", json=empty)
    assert render.status_code == 401
    auth = {"Authorization": f"Bearer {KEY}"}
    missing = httpx.get(live.url + "/web/secrets.txt", headers=auth)
    assert missing.status_code == 404
    assert missing.json()["error"]["message"]
    bad = httpx.post(live.url + "/web/render", json={**empty, "response_format": "docx"}, headers=auth)
    assert bad.status_code == 400
    assert bad.json()["error"]["type"] == "invalid_request_error"


def test_segments_stream_in_with_progress_and_downloads_equal_the_api(
    stepped: Callable[..., tuple[LiveServer, SteppedEngine]],
    held_decoding: Callable[[float], threading.Event],
    page: Page,
    meeting: Path,
) -> None:
    live, engine = stepped(API_KEY=KEY, PROGRESS_SECONDS=0.001)
    decoding = held_decoding(40)  # of the meeting's ~70 s: the server knows only the header's length
    page.add_init_script(f"localStorage.setItem('gigaam-api.key', '{KEY}')")
    page.goto(live.url)
    expect(page.locator("#model-select option").first).to_have_text(live.state.settings.MODEL)
    page.set_input_files("#file-input", meeting)
    job = page.locator(".job")
    segments = job.locator(".segments li")
    bar = job.locator(".job-progress")
    seconds = wave_samples(meeting) / SAMPLE_RATE
    length = f"длительность {int(seconds + 0.5) // 60:02d}:{int(seconds + 0.5) % 60:02d}"

    wait_until(lambda: engine.entered == 1, "the first batch is held")
    expect(job).to_have_attribute("data-state", "running")
    assert segments.count() == 0
    # The audio's length, from the file's header, before any batch has run and before decoding ends.
    expect(job.locator(".job-duration")).to_have_text(length)
    engine.step()
    expect(segments.first).to_be_visible()
    bar_top = bar.bounding_box()
    # The first batch's progress event: a determinate bar part of the way through the header's length,
    # and the time left for the whole file, while the server is still decoding it.
    page.wait_for_function(
        "() => { const b = document.querySelector('.job-progress');"
        " return b.hasAttribute('value') && b.value > 0 && b.value < b.max; }"
    )
    expect(job.locator(".job-remaining")).to_contain_text("осталось ≈ ")
    expect(job).to_have_attribute("data-state", "running")
    assert decoded_bytes(live) < 2 * wave_samples(meeting), "decoding has not finished"
    shown_early = segments.count()
    assert engine.entered <= 2, "nothing ran past the batches the test let go"

    decoding.set()
    engine.step(1000)
    expect(job).to_have_attribute("data-state", "done")
    assert segments.count() > shown_early, "later segments arrived after the first ones were shown"
    assert bar.evaluate("b => b.value === b.max")
    assert bar.bounding_box() == bar_top, "nothing above the segments moved while they streamed in"
    expect(job.locator(".job-duration")).to_have_text(length)
    for fmt in ("srt", "vtt", "text", "json"):
        assert download(page, job, fmt) == api_body(live, meeting, fmt), fmt
    page.check("#words-check")
    mine = json.loads(download(page, job, "verbose_json"))
    api = json.loads(api_body(live, meeting, "verbose_json"))
    assert mine["text"] == api["text"] and mine["duration"] == api["duration"]
    assert [(s["start"], s["end"], s["text"]) for s in mine["segments"]] == [
        (s["start"], s["end"], s["text"]) for s in api["segments"]
    ]
    assert mine["words"] and all(w["end"] >= w["start"] for w in mine["words"])
    assert segments.first.locator("time").inner_text().startswith("00:0")

    # Copy: the text alone, or a line per segment with its times; the «copied» note then goes away.
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live.url)
    status = job.locator(".job-status")
    job.locator(".copy").click()
    expect(status).to_have_text("Текст скопирован")
    assert page.evaluate("navigator.clipboard.readText()") == api["text"]
    expect(status).to_have_text("готово")
    job.locator(".copy-times").click()
    lines = page.evaluate("navigator.clipboard.readText()").split("\n")
    shown = segments.evaluate_all(
        "items => items.map(li => li.querySelector('time').textContent + ' '"
        " + li.querySelector('span').textContent)"
    )
    assert lines == shown
    assert lines[0].startswith("00:0") and api["segments"][0]["text"] in lines[0]
    expect(status).to_have_text("готово")

    # Finished results survive a reload (kept in the browser, downloads still work) until cleared.
    page.reload()
    expect(job).to_have_attribute("data-state", "done")
    expect(job.locator(".segments li")).to_have_count(segments.count())
    expect(job.locator(".job-duration")).to_have_text(length)
    assert download(page, job, "srt") == api_body(live, meeting, "srt")
    page.click("#clear-button")
    expect(page.locator(".job")).to_have_count(0)
    expect(page.locator("#clear-button")).to_be_hidden()
    page.reload()
    expect(page.locator("#model-select option").first).to_have_text(live.state.settings.MODEL)
    assert page.evaluate(SAVED_RESULTS) == 0
    expect(page.locator(".job")).to_have_count(0)


def test_files_run_top_to_bottom_and_each_state_looks_different(
    stepped: Callable[..., tuple[LiveServer, SteppedEngine]],
    page: Page,
    meeting: Path,
    audio_dir: Path,
    tmp_path: Path,
) -> None:
    live, engine = stepped()
    names = ["greeting.wav", "notes.mp3", "meeting.wav", "second.wav"]
    files = [
        audio_dir / "greeting.wav",
        garbage(tmp_path / "notes.mp3"),
        meeting,
        shutil.copy(audio_dir / "greeting.wav", tmp_path / "second.wav"),
    ]
    page.goto(live.url)
    page.set_input_files("#file-input", files)
    jobs = page.locator(".job")
    wait_until(lambda: engine.entered == 1, "the first file's batch is held")
    expect(jobs).to_have_count(4)
    assert [n.inner_text() for n in jobs.locator(".job-name").all()] == names, "oldest on top"
    expect(jobs.nth(0)).to_have_attribute("data-state", "running")
    for queued in (1, 2, 3):
        expect(jobs.nth(queued)).to_have_attribute("data-state", "waiting")
        expect(jobs.nth(queued).locator(".job-progress")).to_be_hidden()  # no "working" animation
    expect(jobs.nth(0).locator(".job-progress")).to_be_visible()

    # Leaving mid-run asks first (the browser's own dialog; a click gives the page the user activation
    # Chromium requires for it).
    page.click("#results-title")
    dialogs: list[str] = []

    def answer(dialog: Dialog) -> None:
        dialogs.append(dialog.type)
        dialog.dismiss()

    page.on("dialog", answer)
    page.close(run_before_unload=True)
    expect(jobs.nth(0)).to_have_attribute("data-state", "running")
    wait_until(lambda: dialogs == ["beforeunload"], "the page asked before closing")
    assert not page.is_closed()

    engine.step()
    expect(jobs.nth(0)).to_have_attribute("data-state", "done")
    expect(jobs.nth(1)).to_have_attribute("data-state", "failed")
    wait_until(lambda: engine.entered == 2, "the meeting's first batch is held")
    expect(jobs.nth(2)).to_have_attribute("data-state", "running")
    expect(jobs.nth(3)).to_have_attribute("data-state", "waiting")
    looks = jobs.evaluate_all(
        """jobs => jobs.map(job => {
            const box = getComputedStyle(job), status = getComputedStyle(job.querySelector('.job-status'));
            return [box.borderLeftColor, box.borderLeftStyle, status.color].join(' ');
        })"""
    )
    assert len(set(looks)) == 4, f"done, failed, running and queued look alike: {looks}"

    engine.step(1000)
    expect(jobs.nth(3)).to_have_attribute("data-state", "done")
    with page.expect_event("close"):
        page.close(run_before_unload=True)  # nothing runs: no question
    assert dialogs == ["beforeunload"]


def test_cancel_stops_the_servers_batches(
    stepped: Callable[..., tuple[LiveServer, SteppedEngine]], page: Page, meeting: Path, audio_dir: Path
) -> None:
    # Sharing on with its default grace: a mere disconnect would leave the run going for a retry.
    live, engine = stepped(API_KEY=KEY, DEDUP=True)
    page.add_init_script(f"localStorage.setItem('gigaam-api.key', '{KEY}')")
    page.goto(live.url)
    page.set_input_files("#file-input", meeting)
    job = page.locator(".job")
    engine.step()
    expect(job.locator(".segments li").first).to_be_visible()
    wait_until(lambda: engine.entered == 2, "the second batch is held")
    cancel = job.locator(".cancel")
    expect(cancel).to_have_text("Отменить")
    cancel.click()
    expect(job).to_have_attribute("data-state", "cancelled")
    # The server closes the run (its queued batch is dropped) before it releases the admission.
    # No grace for a cancelled run: it is done with, its running slot given back.
    wait_until(
        lambda: live.state.runs.in_flight == 0 and live.state.admission.count == 0,
        "the server has let the request go",
    )
    engine.step(1000)
    httpx.post(
        f"{live.url}/v1/audio/transcriptions",
        files={"file": ("greeting.wav", (audio_dir / "greeting.wav").read_bytes())},
        headers={"Authorization": f"Bearer {KEY}"},
        timeout=120,
    ).raise_for_status()
    # The first batch, the held one, then the short request's: nothing of the cancelled file after them.
    assert len(engine.batches) == 3
    wait_until(lambda: live.state.runs.in_flight == 0, "the short request's run is done with")
    assert list(live.state.spool.path.iterdir()) == []


def test_key_prompt_then_a_bad_file_in_plain_words(
    make_server: Callable[..., LiveServer], page: Page, tmp_path: Path
) -> None:
    live = make_server(API_KEY=KEY)
    page.goto(live.url)
    dialog = page.locator("#key-dialog")
    expect(dialog).to_be_visible()
    # Errors in the page's language, by the server's error code; its own text only as a detail.
    message = page.locator("#key-message")
    expect(message.locator(".error-text")).to_have_text(
        "Этот сервер работает только с ключом API. Введите ключ."
    )
    expect(message.locator("details .error-detail")).to_have_text(
        "Missing API key: send `Authorization: Bearer <key>`."
    )
    page.fill("#key-input", "wrong")
    page.keyboard.press("Enter")
    expect(message.locator(".error-text")).to_have_text("Ключ API не подошёл. Проверьте его и введите снова.")
    expect(message.locator("details .error-detail")).to_have_text("Incorrect API key provided.")
    page.fill("#key-input", KEY)
    page.keyboard.press("Enter")
    expect(dialog).to_be_hidden()
    # Each served model once: the aliases are other names of it, shown in its tooltip.
    options = page.locator("#model-select option")
    expect(options).to_have_count(1)
    expect(options).to_have_text(live.state.settings.MODEL)
    expect(options).to_have_attribute(
        "title", "Программы могут звать эту модель и так: " + ", ".join(live.state.settings.MODEL_ALIASES)
    )

    page.reload()  # the key is kept in the browser: no second prompt
    expect(page.locator("#model-select option").first).to_have_text(live.state.settings.MODEL)
    expect(dialog).to_be_hidden()

    bad = garbage(tmp_path / "notes.mp3")
    page.set_input_files("#file-input", bad)
    error = page.locator(".job[data-state=failed]", has_text="notes.mp3").locator(".job-error")
    api_message = httpx.post(
        f"{live.url}/v1/audio/transcriptions",
        files={"file": (bad.name, bad.read_bytes())},
        headers={"Authorization": f"Bearer {KEY}"},
    ).json()["error"]["message"]
    expect(error.locator(".error-text")).to_have_text("Этот файл не удалось прочитать как аудио.")
    expect(error.locator("details .error-detail")).to_have_text(api_message)
    # Its one time (elapsed; no duration, nothing left) starts at the left like the name, not alone mid-card.
    failed = page.locator(".job[data-state=failed]", has_text="notes.mp3")
    expect(failed.locator(".job-elapsed")).not_to_be_empty()
    elapsed, name = failed.locator(".job-elapsed").bounding_box(), failed.locator(".job-name").bounding_box()
    assert elapsed and name and elapsed["x"] == name["x"], (elapsed, name)
    expect(error.locator("details .error-detail")).to_be_hidden()  # until the person opens the details
    error.locator("summary").click()
    expect(error.locator("details .error-detail")).to_be_visible()
    page.click("#lang-switch")
    expect(error.locator(".error-text")).to_have_text("This file could not be read as audio.")
    expect(error.locator("summary")).to_have_text("Details")

    assert "Traceback" not in error.inner_text() and str(tmp_path) not in error.inner_text()


def test_busy_server_says_so(settings_factory: Callable[..., Settings], page: Page, audio_dir: Path) -> None:
    loaded = threading.Event()

    def slow_factory(settings: Settings) -> Any:
        assert loaded.wait(HANG_GUARD_SECONDS), "the test never let the model load"
        return build_transcriber(settings)

    live = start_server(settings_factory(), wait_ready=False, factory=slow_factory)
    try:
        page.goto(live.url)
        page.set_input_files("#file-input", audio_dir / "greeting.wav")
        error = page.locator(".job[data-state=failed] .job-error")
        expect(error.locator(".error-text")).to_have_text(
            "Сервер ещё загружает модель. Попробуйте через минуту."
        )
        expect(error.locator(".error-detail")).to_have_text("The model is still loading; retry shortly.")
    finally:
        loaded.set()
        live.stop()


def test_russian_by_default_english_on_request_and_phone_width(browser: Browser, server: LiveServer) -> None:
    context = browser.new_context(viewport={"width": 360, "height": 740})
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(server.url)
    expect(page.locator("html")).to_have_attribute("lang", "ru")
    expect(page.locator("h1")).to_have_text("Распознавание речи")
    page.click("#lang-switch")
    expect(page.locator("h1")).to_have_text("Speech recognition")
    expect(page.get_by_label("Download format")).to_be_visible()
    page.reload()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360, "no sideways scrolling"
    # Every control is reachable from the keyboard and has a name.
    page.keyboard.press("Tab")
    focused: list[str] = []
    for _ in range(8):
        focused.append(page.evaluate("document.activeElement.id"))
        page.keyboard.press("Tab")
    for control in ("key-button", "lang-switch", "file-input", "record-button", "model-select"):
        assert control in focused
    unnamed = page.evaluate(
        """[...document.querySelectorAll('button, select, input')]
            .filter(el => !(el.labels?.length || el.textContent.trim() || el.getAttribute('aria-label')))
            .map(el => el.id || el.className)"""
    )
    assert unnamed == [], "every control has a label or text"
    context.close()


def test_a_microphone_recording_is_transcribed(playwright: Playwright, server: LiveServer) -> None:
    # Chromium's fake capture device (a beep) with the permission prompt answered "allow".
    chromium = launch_chromium(
        playwright, "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"
    )
    try:
        page = chromium.new_page()
        page.set_default_timeout(WAIT_MS)
        page.goto(server.url)
        record = page.locator("#record-button")
        record.click()
        expect(record).to_have_attribute("aria-pressed", "true")
        expect(record).to_contain_text("00:01")  # a second of the fake tone is recorded
        record.click()
        expect(record).to_have_attribute("aria-pressed", "false")
        job = page.locator(".job", has_text="recording-")
        expect(job).to_have_attribute("data-state", "done")
        expect(job.locator(".job-error")).to_be_empty()
    finally:
        chromium.close()


def test_dropped_files_are_transcribed(page: Page, server: LiveServer, audio_dir: Path) -> None:
    page.goto(server.url)
    payload = base64.b64encode((audio_dir / "weather.ogg").read_bytes()).decode()
    drop = page.evaluate_handle(
        """data => {
            const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], "weather.ogg", { type: "audio/ogg" }));
            return transfer;
        }""",
        payload,
    )
    # Outside the dashed box: the whole window takes files, and the browser must not open the file
    # in place of the page (both events' default actions are prevented).
    prevented = drop.evaluate(
        """transfer => ["dragover", "drop"].map(type => {
            const event = new DragEvent(type, { dataTransfer: transfer, bubbles: true, cancelable: true });
            document.querySelector("#results-title").dispatchEvent(event);
            return event.defaultPrevented;
        })"""
    )
    assert prevented == [True, True]
    job = page.locator(".job", has_text="weather.ogg")
    expect(job).to_have_attribute("data-state", "done")
    expected = httpx.post(
        f"{server.url}/v1/audio/transcriptions",
        files={"file": ("weather.ogg", (audio_dir / "weather.ogg").read_bytes())},
        timeout=120,
    ).json()["text"]
    assert " ".join(job.locator(".segments li span").all_inner_texts()) == expected


def test_a_long_word_wraps_at_phone_width(
    settings_factory: Callable[..., Settings], browser: Browser, audio_dir: Path
) -> None:
    live = start_server(settings_factory(), factory=partial(build_transcriber, wrap_engine=OneLongWord))
    context = browser.new_context(viewport={"width": 360, "height": 740})
    try:
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        page.goto(live.url)
        page.set_input_files("#file-input", audio_dir / "greeting.wav")
        job = page.locator(".job")
        expect(job).to_have_attribute("data-state", "done")
        expect(job.locator(".segments span")).to_have_text("а" * 2000)
        assert page.evaluate("document.documentElement.scrollWidth") <= 360, "no sideways scrolling"
    finally:
        context.close()
        live.stop()


def test_formats_and_the_key_explained_in_plain_words(page: Page, server: LiveServer) -> None:
    page.goto(server.url)
    hint = page.locator("#format-hint")
    expect(page.locator("#format-select")).to_have_attribute("aria-describedby", "format-hint")
    for language, plain in (("ru", "субтитры"), ("en", "subtitles")):
        if language == "en":
            page.click("#lang-switch")
        hints = {}
        for fmt in ("srt", "vtt", "text", "json", "verbose_json"):
            page.select_option("#format-select", fmt)
            hints[fmt] = hint.inner_text()
            assert hints[fmt], fmt
        assert len(set(hints.values())) == 5, "each format has its own explanation"
        assert plain in hints["srt"] and plain in hints["vtt"]
        key_hint = page.locator("#key-button").get_attribute("title")
        assert key_hint and len(key_hint) > 40, "the key button says what a key is"
        page.click("#key-button")
        expect(page.locator("#key-dialog .hint")).to_contain_text(
            "пароль" if language == "ru" else "password"
        )
        page.click("#key-close")


def test_the_copied_note_follows_the_language_switch(page: Page, server: LiveServer, audio_dir: Path) -> None:
    page.clock.install()  # the note's 3 s run on the page's clock, so the switch lands inside them
    page.goto(server.url)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    page.set_input_files("#file-input", audio_dir / "greeting.wav")
    job = page.locator(".job")
    expect(job).to_have_attribute("data-state", "done")
    page.clock.pause_at(page.evaluate("Date.now()") + 1000)
    status = job.locator(".job-status")
    job.locator(".copy").click()
    expect(status).to_have_text("Текст скопирован")
    page.click("#lang-switch")
    expect(status).to_have_text("Text copied")
    page.clock.run_for(3000)
    expect(status).to_have_text("done")


def test_the_keywords_box_sends_keywords_and_shows_the_servers_refusal(
    make_server: Callable[..., LiveServer], page: Page, audio_dir: Path
) -> None:
    live = make_server(API_KEY=KEY)
    greeting = audio_dir / "greeting.wav"
    page.add_init_script(f"localStorage.setItem('gigaam-api.key', '{KEY}')")
    page.goto(live.url)
    expect(page.locator("label[for=keywords-input]")).to_have_text("Ключевые слова")
    page.fill("#keywords-input", "Сбербанк\n\n  ГигаАМ, Росатом ")
    page.set_input_files("#file-input", greeting)
    job = page.locator(".job[data-state=done]", has_text="greeting.wav")
    expect(job).to_have_count(1)

    # The keywords switch the engine to its biased search, whose text differs from greedy decoding
    # on the generated model: the page's text is the API's for the same keywords, not the plain one.
    response = httpx.post(
        f"{live.url}/v1/audio/transcriptions",
        data={"response_format": "text", "keywords[]": ["Сбербанк", "ГигаАМ", "Росатом"]},
        files={"file": (greeting.name, greeting.read_bytes())},
        headers={"Authorization": f"Bearer {KEY}"},
        timeout=120,
    )
    assert response.status_code == 200, response.text
    assert download(page, job, "text") == response.content != api_body(live, greeting, "text")

    page.fill("#keywords-input", "Sberbank")
    page.set_input_files("#file-input", audio_dir / "weather.wav")
    error = page.locator(".job[data-state=failed]", has_text="weather.wav").locator(".job-error")
    expect(error.locator(".error-text")).to_have_text(
        "Ключевые слова не подходят этой модели: исправьте их в параметрах."
    )
    expect(error.locator("details .error-detail")).to_contain_text("'Sberbank'")
    page.reload()  # the list is kept in the browser
    expect(page.locator("#keywords-input")).to_have_value("Sberbank")
