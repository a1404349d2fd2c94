"""The page's live mode in Debian's Chromium (headless, Playwright) against a real server: Chromium's fake
microphone plays synthetic Russian speech with pauses (it loops the file), the page streams it to
/v1/realtime, and the test reads what the page shows, the socket's frames (Playwright sees both
directions) and the batch API's transcript of the very audio the page sent.

No sleeps: every wait is Playwright's, on the page's state or the socket; WAIT_MS only bounds a hang.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import wave
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, Playwright, WebSocket, WebSocketRoute, expect, sync_playwright
from prometheus_client.parser import text_string_to_metric_families
from websockets.sync.client import connect

from gigaam_api.app import build_transcriber
from gigaam_api.config import Settings
from tests.fixtures.browser import WAIT_MS, launch_chromium
from tests.fixtures.live_server import LiveServer, start_server
from tests.fixtures.speech import SENTENCES, long_speech, write_wav
from tests.fixtures.waiting import wait_until

KEY = "live-page-key"
RATE = 16_000  # what the page sends (declared in its session): the server keeps these very samples
PHRASES = [SENTENCES[1], "Есть ли вопросы?", SENTENCES[3]]
COMPLETED = "conversation.item.input_audio_transcription.completed"
MUTED, INK = "rgb(92, 99, 112)", "rgb(29, 31, 35)"  # style.css --muted and --fg (light scheme)

# Every state an utterance's line passes through, seen by a MutationObserver (a partial lasts a moment:
# polling could miss it): its classes, its text and the colour it is drawn in.
WATCH_LINES = """
window.liveLines = [];
new MutationObserver(() => {
  for (const li of document.querySelectorAll(".job.live .segments li")) {
    const span = li.querySelector("span");
    const seen = { pending: li.classList.contains("pending"), text: span.textContent,
                   colour: getComputedStyle(span).color };
    const last = window.liveLines.findLast((l) => l.pending === seen.pending && l.text === seen.text);
    if (seen.text && !last) window.liveLines.push(seen);
    if (seen.text && seen.pending) document.documentElement.dataset.sawPartial = "yes";
  }
}).observe(document, { subtree: true, childList: true, characterData: true });
"""


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three phrases, each after a pause longer than the server VAD's 500 ms of silence."""
    audio, _ = long_speech(PHRASES, [1.0, 1.5, 1.5, 1.5])
    return write_wav(tmp_path_factory.mktemp("live") / "speech.wav", audio)


@pytest.fixture(scope="module")
def browser(playwright: Playwright, speech_wav: Path) -> Iterator[Browser]:
    chromium = launch_chromium(
        playwright,
        "--use-fake-ui-for-media-stream",  # the microphone prompt answered "allow"
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={speech_wav}",
        "--autoplay-policy=no-user-gesture-required",
    )
    yield chromium
    chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    yield page
    context.close()


class Frames:
    """The page's realtime socket as Playwright sees it: what was sent and received, in order."""

    def __init__(self, page: Page) -> None:
        self.sent: list[dict[str, Any]] = []
        self.received: list[dict[str, Any]] = []
        self.sockets: list[WebSocket] = []
        page.on("websocket", self._opened)

    def _opened(self, ws: WebSocket) -> None:
        self.sockets.append(ws)
        ws.on("framesent", lambda payload: self.sent.append(json.loads(payload)))
        ws.on("framereceived", lambda payload: self.received.append(json.loads(payload)))

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.received if e["type"] == kind]

    def pcm(self) -> bytes:
        """Everything the page appended: the server's 16 kHz PCM16 samples."""
        return b"".join(
            base64.b64decode(e["audio"]) for e in self.sent if e["type"] == "input_audio_buffer.append"
        )


def pcm_wav(path: Path, pcm: bytes) -> Path:
    """The samples as they are (a float round trip would move some by one step)."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(pcm)
    return path


def utterances_total(live: LiveServer, delivered: str) -> float:
    text = httpx.get(f"{live.url}/metrics", headers={"Authorization": f"Bearer {KEY}"}, timeout=10).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "gigaam_live_utterances_total" and sample.labels["delivered"] == delivered:
                return sample.value
    return 0.0


def finished_lines(page: Page) -> Any:
    return page.locator(".job.live .segments li:not(.pending) span")


def test_live_mode_shows_grey_partials_then_black_finals_equal_to_the_batch_transcript(
    make_server: Callable[..., LiveServer], page: Page, tmp_path: Path
) -> None:
    live = make_server(API_KEY=KEY)
    page.add_init_script(f"localStorage.setItem('gigaam-api.key', '{KEY}')")
    page.add_init_script(WATCH_LINES)
    frames = Frames(page)
    page.goto(live.url)
    button = page.locator("#live-button")
    expect(button).to_have_text("Распознавать вживую")
    button.click()
    card = page.locator(".job.live")
    expect(card.locator(".job-status")).to_have_text("слушаю…")
    expect(button).to_have_text("Остановить распознавание")
    expect(button).to_have_attribute("aria-pressed", "true")

    # The file loops: three phrases, then the first again. Stop once three are finished.
    expect(finished_lines(page)).to_have_count(3, timeout=WAIT_MS * 3)
    expect(page.locator("html[data-saw-partial]")).to_have_count(1)  # (the CSP forbids wait_for_function)
    button.click()
    expect(card).to_have_attribute("data-state", "done")
    expect(card.locator(".job-status")).to_have_text("готово")
    expect(button).to_have_text("Распознавать вживую")
    if not frames.sockets[0].is_closed():
        frames.sockets[0].wait_for_event("close")  # the page closes its socket
    wait_until(lambda: live.state.live_slots.open == 0, "the server ends the session")

    # The secret went in the subprotocol (the page cannot set headers), never the key itself.
    assert len(frames.sockets) == 1 and "intent=transcription" in frames.sockets[0].url
    assert frames.sent[0]["type"] == "input_audio_buffer.append"  # its session came with the secret
    assert frames.sent[-1] == {"type": "input_audio_buffer.commit", "event_id": "page-stop"}

    # Every utterance the server heard is a line of its own, final text in black, in order; none left grey.
    completed = frames.of(COMPLETED)
    started = frames.of("input_audio_buffer.speech_started")
    assert len(completed) >= 3
    assert [e["item_id"] for e in completed] == [e["item_id"] for e in started]
    expect(finished_lines(page)).to_have_text([e["transcript"] for e in completed])
    expect(card.locator(".segments li.pending")).to_have_count(0)
    lines = page.evaluate("window.liveLines")
    partials = [line for line in lines if line["pending"]]
    finals = [line for line in lines if not line["pending"]]
    assert partials and all(line["colour"] == MUTED for line in partials), lines
    assert [line["text"] for line in finals] == [e["transcript"] for e in completed]
    assert all(line["colour"] == INK for line in finals), lines
    # Each partial was the beginning of what its utterance's deltas spelled out.
    deltas = "".join(e["delta"] for e in frames.of("conversation.item.input_audio_transcription.delta"))
    assert all(line["text"] in deltas for line in partials)

    # Each final equals the batch API's transcript of the same audio: the samples the page sent, cut
    # where the server's VAD put the utterance.
    pcm = frames.pcm()
    stopped = {e["item_id"]: e["audio_end_ms"] for e in frames.of("input_audio_buffer.speech_stopped")}
    client = live.client(api_key=KEY)
    compared = 0
    for start, final in zip(started, completed, strict=True):
        if final["item_id"] not in stopped:
            continue  # the one "stop" committed
        span = pcm[start["audio_start_ms"] * RATE // 500 : stopped[final["item_id"]] * RATE // 500]
        assert final["usage"]["seconds"] == pytest.approx(len(span) / 2 / RATE, abs=0.001)
        path = pcm_wav(tmp_path / f"{final['item_id']}.wav", span)
        batch = client.audio.transcriptions.create(model="whisper-1", file=path)
        assert final["transcript"] == batch.text
        compared += 1
    assert compared >= 3

    # Closed only once everything was delivered: the server counted no final it could not send.
    finals_sent = utterances_total(live, "yes")
    assert (finals_sent, utterances_total(live, "no")) == (len(completed), 0)

    # Copy and download as for a file, and the Russian and English words.
    expect(card.locator(".copy")).to_be_enabled()
    page.click("#lang-switch")
    expect(button).to_have_text("Live transcription")
    expect(card.locator(".job-status")).to_have_text("done")


def live_error(page: Page) -> Any:
    return page.locator(".job.live[data-state=failed] .job-error")


def test_a_full_server_and_a_refused_socket_are_said_in_plain_words(
    make_server: Callable[..., LiveServer], page: Page
) -> None:
    live = make_server(API_KEY=KEY, LIVE_MAX_SESSIONS=1)
    page.goto(live.url)
    dialog = page.locator("#key-dialog")
    expect(dialog).to_be_visible()  # the models ask for the key first
    page.fill("#key-input", KEY)
    page.keyboard.press("Enter")
    expect(dialog).to_be_hidden()
    url = live.url.replace("http", "ws") + "/v1/realtime?intent=transcription"
    with connect(url, additional_headers={"Authorization": f"Bearer {KEY}"}) as taken:
        assert json.loads(taken.recv(timeout=60))["type"] == "session.created"
        page.click("#live-button")
        error = live_error(page)
        expect(error.locator(".error-text")).to_have_text(
            "Сервер занят: слишком много распознаваний вживую сразу. Попробуйте чуть позже."
        )
        expect(error.locator(".error-detail")).to_contain_text("LIVE_MAX_SESSIONS")
        expect(page.locator("#live-button")).to_have_text("Распознавать вживую")
        page.click("#lang-switch")
        expect(error.locator(".error-text")).to_have_text(
            "The server is busy: too many live transcriptions at once. Try again a little later."
        )

    # A socket refused at the handshake tells a browser nothing; the client secret asked for first is
    # refused with the reason, which the page shows.
    off = make_server(LIVE_MAX_SESSIONS=0)
    page.goto(off.url)  # another origin: Russian again
    page.click("#live-button")
    expect(live_error(page).locator(".error-text")).to_have_text(
        "Распознавание вживую на этом сервере выключено."
    )


def test_a_wrong_key_is_asked_again_before_the_socket_opens(
    make_server: Callable[..., LiveServer], page: Page
) -> None:
    live = make_server(API_KEY=KEY)
    page.add_init_script("localStorage.setItem('gigaam-api.key', 'wrong')")
    frames = Frames(page)
    page.goto(live.url)
    expect(page.locator("#key-dialog")).to_be_visible()  # the models' 401
    page.locator("#key-close").click()
    page.click("#live-button")
    expect(page.locator("#key-message .error-text")).to_have_text(
        "Ключ API не подошёл. Проверьте его и введите снова."
    )
    assert frames.sockets == []
    page.fill("#key-input", KEY)
    page.keyboard.press("Enter")
    expect(page.locator(".job.live .job-status")).to_have_text("слушаю…")
    page.click("#live-button")
    expect(page.locator(".job.live")).to_have_attribute("data-state", "done")
    assert len(frames.sockets) == 1


def test_a_denied_microphone_is_said_in_both_languages(playwright: Playwright, server: LiveServer) -> None:
    chromium = launch_chromium(playwright, "--use-fake-device-for-media-stream")  # no "allow" answer
    try:
        page = chromium.new_page()
        page.set_default_timeout(WAIT_MS)
        page.goto(server.url)
        page.click("#live-button")
        expect(page.locator("#notice")).to_contain_text("Нет доступа к микрофону: ")
        expect(page.locator(".job.live")).to_have_count(0)
        expect(page.locator("#live-button")).to_be_enabled()
        page.click("#lang-switch")
        page.click("#live-button")
        expect(page.locator("#notice")).to_contain_text("The microphone is not available: ")
    finally:
        chromium.close()


def test_a_dropped_connection_keeps_the_finished_lines(
    make_server: Callable[..., LiveServer], page: Page
) -> None:
    live = make_server()
    routes: list[WebSocketRoute] = []

    def relay(ws: WebSocketRoute) -> None:  # the page's socket through Playwright, to the real server
        ws.connect_to_server()
        routes.append(ws)

    page.route_web_socket(re.compile(r"/v1/realtime\?"), relay)
    page.goto(live.url)
    page.click("#live-button")
    expect(finished_lines(page).first).not_to_be_empty(timeout=WAIT_MS * 2)
    routes[0].close(code=1011)  # the network, say, drops it: not the page's "stop"
    card = page.locator(".job.live")
    expect(card.locator(".job-error .error-text")).to_have_text(
        "Соединение оборвалось до конца распознавания."
    )
    expect(card).to_have_attribute("data-state", "done")  # what was transcribed stays: copy, download
    expect(card.locator(".copy")).to_be_enabled()
    expect(card.locator(".segments li.pending")).to_have_count(0)
    expect(page.locator("#live-button")).to_have_attribute("aria-pressed", "false")


def test_a_loading_model_is_said_in_plain_words(
    settings_factory: Callable[..., Settings], page: Page
) -> None:
    loaded = threading.Event()

    def slow_factory(settings: Settings) -> Any:
        assert loaded.wait(WAIT_MS / 1000), "the test never let the model load"
        return build_transcriber(settings)

    live = start_server(settings_factory(), wait_ready=False, factory=slow_factory)
    try:
        page.goto(live.url)
        page.click("#live-button")
        error = live_error(page)
        expect(error.locator(".error-text")).to_have_text(
            "Сервер ещё загружает модель. Попробуйте через минуту."
        )
        expect(error.locator(".error-detail")).to_have_text("The model is still loading; retry shortly.")
    finally:
        loaded.set()
        live.stop()
