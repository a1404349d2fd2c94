"""The web page in Debian's Chromium (headless, driven by Playwright) against a real server.

Timings are forced with engines that hold batches until the test lets them go; the assertions look at
what the page shows and count the server's batches, never seconds.
"""

from __future__ import annotations

import base64
import json
import threading
import wave
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright

from gigaam_api.app import build_transcriber
from gigaam_api.config import Settings
from gigaam_api.engines.base import ASREngine
from gigaam_api.web.assets import ASSETS
from tests.conftest import LiveServer, start_server
from tests.fixtures.engines import SteppedEngine
from tests.fixtures.speech import garbage, long_speech, write_wav
from tests.fixtures.waiting import wait_until
from tests.integration.test_longform import PAUSES, SENTENCES

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
KEY = "web-test-key"
WAIT_MS = 60_000
expect.set_options(timeout=WAIT_MS)  # a busy machine is slow, and every wait here ends on an event


def launch_chromium(playwright: Playwright, *extra_args: str) -> Browser:
    """Debian's Chromium; a missing browser fails with how to install it (no download works here)."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `apt-get install chromium` (or `make system-deps`)")
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=[*CHROMIUM_ARGS, *extra_args])


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
    for name in ASSETS:
        asset = httpx.get(f"{live.url}/web/{name}")
        assert asset.status_code == 200, name
        assert f'/web/{name}"' in page.text, "the page loads every asset it ships"
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
    stepped: Callable[..., tuple[LiveServer, SteppedEngine]], page: Page, meeting: Path
) -> None:
    live, engine = stepped(API_KEY=KEY, PROGRESS_SECONDS=0.001)
    page.add_init_script(f"localStorage.setItem('gigaam-api.key', '{KEY}')")
    page.goto(live.url)
    expect(page.locator("#model-select option").first).to_have_text(live.state.settings.MODEL)
    page.set_input_files("#file-input", meeting)
    job = page.locator(".job")
    segments = job.locator(".segments li")
    bar = job.locator(".job-progress")

    wait_until(lambda: engine.entered == 1, "the first batch is held")
    expect(job).to_have_attribute("data-state", "running")
    assert segments.count() == 0
    # The duration (the bar's maximum) is known once decoding has written the whole file's samples.
    wait_until(lambda: decoded_bytes(live) == 2 * wave_samples(meeting), "the file is decoded")
    engine.step()
    expect(segments.first).to_be_visible()
    bar_top = bar.bounding_box()
    # The first batch's progress event: a determinate bar part of the way through.
    page.wait_for_function(
        "() => { const b = document.querySelector('.job-progress');"
        " return b.hasAttribute('value') && b.value > 0 && b.value < b.max; }"
    )
    expect(job).to_have_attribute("data-state", "running")
    expect(job.locator(".job-remaining")).not_to_be_empty()
    shown_early = segments.count()
    assert engine.entered <= 2, "nothing ran past the batches the test let go"

    engine.step(1000)
    expect(job).to_have_attribute("data-state", "done")
    assert segments.count() > shown_early, "later segments arrived after the first ones were shown"
    assert bar.evaluate("b => b.value === b.max")
    assert bar.bounding_box() == bar_top, "nothing above the segments moved while they streamed in"
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
    expect(page.locator("#key-message")).to_contain_text("Missing API key")
    page.fill("#key-input", "wrong")
    page.keyboard.press("Enter")
    expect(page.locator("#key-message")).to_contain_text("Incorrect API key provided.")
    page.fill("#key-input", KEY)
    page.keyboard.press("Enter")
    expect(dialog).to_be_hidden()
    expect(page.locator("#model-select option").first).to_have_text(live.state.settings.MODEL)

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
    expect(error).to_contain_text(api_message)

    assert "Traceback" not in error.inner_text() and str(tmp_path) not in error.inner_text()


def test_busy_server_says_so(settings_factory: Callable[..., Settings], page: Page, audio_dir: Path) -> None:
    loaded = threading.Event()

    def slow_factory(settings: Settings) -> Any:
        loaded.wait(60)
        return build_transcriber(settings)

    live = start_server(settings_factory(), wait_ready=False, factory=slow_factory)
    try:
        page.goto(live.url)
        page.set_input_files("#file-input", audio_dir / "greeting.wav")
        error = page.locator(".job[data-state=failed] .job-error")
        expect(error).to_contain_text("Сервер занят, попробуйте чуть позже: The model is still loading")
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
    page.dispatch_event("#drop-zone", "drop", {"dataTransfer": drop})
    job = page.locator(".job", has_text="weather.ogg")
    expect(job).to_have_attribute("data-state", "done")
    expected = httpx.post(
        f"{server.url}/v1/audio/transcriptions",
        files={"file": ("weather.ogg", (audio_dir / "weather.ogg").read_bytes())},
        timeout=120,
    ).json()["text"]
    assert " ".join(job.locator(".segments li span").all_inner_texts()) == expected
