"use strict";
// The page: files in, one streamed transcription at a time (POST /v1/audio/transcriptions with
// stream=true), segments and progress as they arrive, downloads rendered by the server (POST /web/render).

const KEY_STORE = "gigaam-api.key";
const LANG_STORE = "gigaam-api.lang";
const EXTENSIONS = { text: "txt", srt: "srt", vtt: "vtt", json: "json", verbose_json: "json" };
const FORMAT_NAMES = { text: "TXT", srt: "SRT", vtt: "VTT", json: "JSON", verbose_json: "JSON" };

const $ = (selector, root = document) => root.querySelector(selector);
const ui = {
  fileInput: $("#file-input"), dropZone: $("#drop-zone"), record: $("#record-button"),
  model: $("#model-select"), format: $("#format-select"), words: $("#words-check"),
  notice: $("#notice"), jobs: $("#jobs"), template: $("#job-template"),
  keyButton: $("#key-button"), langSwitch: $("#lang-switch"),
  keyDialog: $("#key-dialog"), keyForm: $("#key-form"), keyInput: $("#key-input"),
  keyMessage: $("#key-message"), keyClose: $("#key-close"),
};

// ---- words -----------------------------------------------------------------------------------
let lang = localStorage.getItem(LANG_STORE) === "en" ? "en" : "ru";

function t(name, values = {}) {
  const text = window.I18N[lang][name] ?? name;
  return text.replace(/\{(\w+)\}/g, (_, key) => String(values[key] ?? ""));
}

function applyLanguage() {
  document.documentElement.lang = lang;
  document.title = `${t("title")} · gigaam-api`;
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  ui.langSwitch.textContent = t("switchTo");
  ui.langSwitch.lang = lang === "ru" ? "en" : "ru";
  for (const job of jobs) job.render();
}

ui.langSwitch.addEventListener("click", () => {
  lang = lang === "ru" ? "en" : "ru";
  localStorage.setItem(LANG_STORE, lang);
  applyLanguage();
});

function clock(seconds) {
  const s = Math.max(0, Math.round(seconds));
  const hms = [Math.floor(s / 3600), Math.floor(s / 60) % 60, s % 60];
  const text = hms.map((n) => String(n).padStart(2, "0")).join(":");
  return hms[0] ? text : text.slice(3);
}

function stamp(seconds) {
  return `${clock(Math.floor(seconds))}.${Math.floor((seconds % 1) * 10)}`;
}

// ---- the API, with the key -------------------------------------------------------------------
class ApiError extends Error {}

let keyWaiters = [];

function askKey(message) {
  ui.keyMessage.textContent = message || "";
  ui.keyInput.value = "";
  if (!ui.keyDialog.open) ui.keyDialog.showModal();
  ui.keyInput.focus();
  return new Promise((resolve) => keyWaiters.push(resolve));
}

ui.keyForm.addEventListener("submit", () => {
  localStorage.setItem(KEY_STORE, ui.keyInput.value.trim());
  const waiters = keyWaiters;
  keyWaiters = [];
  for (const resolve of waiters) resolve(true);
});
ui.keyClose.addEventListener("click", () => ui.keyDialog.close());
ui.keyDialog.addEventListener("close", () => {
  const waiters = keyWaiters;
  keyWaiters = [];
  for (const resolve of waiters) resolve(false);
});
ui.keyButton.addEventListener("click", () => askKey("").then((saved) => saved && loadModels()));

// fetch() with the stored key; a 401 asks for a key and retries, any other failure is an ApiError
// carrying the server's own message.
async function api(path, init = {}) {
  for (;;) {
    const key = localStorage.getItem(KEY_STORE);
    const headers = new Headers(init.headers);
    if (key) headers.set("Authorization", `Bearer ${key}`);
    let response;
    try {
      response = await fetch(path, { ...init, headers });
    } catch (err) {
      if (err.name === "AbortError") throw err;
      throw new ApiError(t("unreachable"));
    }
    if (response.ok) return response;
    const message = await errorMessage(response);
    if (response.status === 401 && (await askKey(message))) continue;
    throw new ApiError(message);
  }
}

// Cancel the server's side of a running stream by its x-request-id. Sent before the fetch is aborted:
// a mere disconnect lets the server finish the run for a retry (DEDUP_GRACE_SECONDS); a DELETE stops
// it. Before the stream starts (uploading, or waiting here) aborting the fetch is enough.
async function cancelOnServer(requestId) {
  if (!requestId) return;
  try {
    await api(`/v1/audio/transcriptions/${encodeURIComponent(requestId)}`, { method: "DELETE" });
  } catch {
    // Already finished (404) or unreachable: nothing is left to stop.
  }
}

async function errorMessage(response) {
  const plain = t(`status${response.status}`);
  let detail = "";
  try {
    detail = (await response.json()).error.message;
  } catch {
    detail = `HTTP ${response.status}`;
  }
  return plain === `status${response.status}` ? detail : `${plain}: ${detail}`;
}

async function loadModels() {
  try {
    const { data } = await (await api("/v1/models")).json();
    const chosen = ui.model.value;
    ui.model.replaceChildren(...data.map(({ id }) => new Option(id, id)));
    if (data.some(({ id }) => id === chosen)) ui.model.value = chosen;
    ui.notice.textContent = "";
  } catch (err) {
    ui.notice.textContent = t("modelsFailed", { message: err.message });
  }
}

// ---- one file's transcription ----------------------------------------------------------------
const jobs = [];
const queue = [];
let busy = false;

class Job {
  constructor(file) {
    this.file = file;
    this.state = "waiting";
    this.segments = [];
    this.duration = 0;
    this.text = "";
    this.processed = 0;
    this.total = null;
    this.started = 0;
    this.progressAt = 0;
    this.abort = new AbortController();
    this.el = ui.template.content.firstElementChild.cloneNode(true);
    this.bar = $(".job-progress", this.el);
    this.list = $(".segments", this.el);
    $(".job-name", this.el).textContent = file.name;
    $(".cancel", this.el).addEventListener("click", () => this.cancel());
    $(".copy", this.el).addEventListener("click", () => this.copy());
    $(".download", this.el).addEventListener("click", () => this.download());
    for (const el of this.el.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
    this.bar.removeAttribute("value");
    this.render();
  }

  set(state, error = "") {
    this.state = state;
    $(".job-error", this.el).textContent = error;
    this.render();
  }

  render() {
    this.el.dataset.state = this.state;
    $(".job-status", this.el).textContent = t(this.state);
    $(".download", this.el).textContent = t("download", { format: FORMAT_NAMES[ui.format.value] });
    $(".copy", this.el).disabled = this.state !== "done";
    $(".download", this.el).disabled = this.state !== "done";
    for (const el of this.el.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
    this.tick();
  }

  tick() {
    const running = this.state === "running" || this.state === "uploading";
    const elapsed = this.started ? ((this.ended || performance.now()) - this.started) / 1000 : 0;
    $(".job-elapsed", this.el).textContent = this.started ? t("elapsed", { time: clock(elapsed) }) : "";
    let remaining = "";
    if (running && this.total && this.processed > 0) {
      // Speed so far, measured at the last progress report, applied to what is left.
      const speed = this.processed / ((this.progressAt - this.started) / 1000);
      const left = (this.total - this.processed) / speed - (performance.now() - this.progressAt) / 1000;
      remaining = t("remaining", { time: clock(Math.max(left, 0)) });
    }
    $(".job-remaining", this.el).textContent = remaining;
  }

  async cancel() {
    const running = this.state === "running";
    if (this.state === "waiting") queue.splice(queue.indexOf(this), 1);
    this.finish("cancelled");
    if (running) await cancelOnServer(this.requestId);
    this.abort.abort();
  }

  finish(state, error = "") {
    if (this.state !== "waiting" && this.state !== "running" && this.state !== "uploading") return;
    this.ended = performance.now();
    if (state === "done") {
      this.bar.max = 1;
      this.bar.value = 1;
    } else if (!this.bar.hasAttribute("value")) {
      this.bar.value = 0; // stop the "working" animation of an indeterminate bar
    }
    this.set(state, error);
  }

  async run() {
    this.started = performance.now();
    this.set("uploading");
    const form = new FormData();
    form.append("file", this.file, this.file.name);
    if (ui.model.value) form.append("model", ui.model.value);
    // verbose_json with word times: the segment events then carry what subtitles are cut from.
    form.append("response_format", "verbose_json");
    form.append("timestamp_granularities[]", "word");
    form.append("timestamp_granularities[]", "segment");
    form.append("stream", "true");
  form.append("include[]", "progress");
    try {
      const response = await api("/v1/audio/transcriptions", {
        method: "POST", body: form, signal: this.abort.signal,
      });
      this.requestId = response.headers.get("x-request-id");
      this.set("running");
      await this.read(response.body);
      this.finish("done");
    } catch (err) {
      if (err.name !== "AbortError") this.finish("failed", err.message);
    }
  }

  async read(body) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new ApiError(t("streamCut"));
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const lines = buffer.slice(0, end).split("\n");
        buffer = buffer.slice(end + 2);
        const data = lines.filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trimStart());
        if (data.length && this.event(JSON.parse(data.join("\n")))) return;
      }
    }
  }

  // One SSE event; true when the transcription is complete.
  event(payload) {
    if (payload.error) throw new ApiError(payload.error.message);
    if (payload.type === "transcript.text.segment") {
      const segment = { id: Number(payload.id), start: payload.start, end: payload.end,
        text: payload.text, words: payload.words || [] };
      this.segments.push(segment);
      this.show(segment);
    } else if (payload.type === "transcript.progress") {
      this.processed = payload.processed_seconds;
      this.total = payload.total_seconds;
      this.progressAt = performance.now();
      if (this.total) {
        this.bar.max = this.total;
        this.bar.value = this.processed;
      }
      this.tick();
    } else if (payload.type === "transcript.text.done") {
      this.text = payload.text;
      this.duration = payload.usage.seconds;
      return true;
    }
    return false;
  }

  show(segment) {
    const atBottom = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 8;
    const item = document.createElement("li");
    const time = document.createElement("time");
    time.textContent = `${stamp(segment.start)}–${stamp(segment.end)}`;
    const text = document.createElement("span");
    text.textContent = segment.text;
    item.append(time, text);
    this.list.append(item);
    if (atBottom) this.list.scrollTop = this.list.scrollHeight;
  }

  async copy() {
    try {
      await navigator.clipboard.writeText(this.text);
    } catch {
      // Plain http on a LAN has no clipboard API: copy through a selection instead.
      const area = document.createElement("textarea");
      area.value = this.text;
      document.body.append(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
    $(".job-status", this.el).textContent = t("copied");
  }

  async download() {
    const format = ui.format.value;
    try {
      const response = await api("/web/render", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ response_format: format, duration: this.duration,
          segments: this.segments, words: ui.words.checked }),
      });
      const link = document.createElement("a");
      link.href = URL.createObjectURL(await response.blob());
      link.download = `${this.file.name.replace(/\.[^.]*$/, "") || "transcript"}.${EXTENSIONS[format]}`;
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
    } catch (err) {
      $(".job-error", this.el).textContent = err.message;
    }
  }
}

function add(files) {
  for (const file of files) {
    const job = new Job(file);
    jobs.push(job);
    queue.push(job);
    ui.jobs.prepend(job.el);
  }
  pump();
}

async function pump() {
  if (busy) return;
  busy = true;
  while (queue.length) await queue.shift().run();
  busy = false;
}

setInterval(() => {
  for (const job of jobs) if (job.state === "running" || job.state === "uploading") job.tick();
}, 1000);

ui.format.addEventListener("change", () => jobs.forEach((job) => job.render()));

// ---- input: chooser, drag and drop, microphone -----------------------------------------------
ui.fileInput.addEventListener("change", () => {
  add([...ui.fileInput.files]);
  ui.fileInput.value = "";
});
for (const type of ["dragenter", "dragover"]) {
  ui.dropZone.addEventListener(type, (e) => {
    e.preventDefault();
    ui.dropZone.classList.add("over");
  });
}
ui.dropZone.addEventListener("dragleave", () => ui.dropZone.classList.remove("over"));
ui.dropZone.addEventListener("drop", (e) => {
  e.preventDefault();
  ui.dropZone.classList.remove("over");
  add([...e.dataTransfer.files]);
});

let recorder = null;

ui.record.addEventListener("click", async () => {
  if (recorder) {
    recorder.stop();
    return;
  }
  if (!navigator.mediaDevices?.getUserMedia || !window.MediaRecorder) {
    ui.notice.textContent = t("noMicrophone");
    return;
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (err) {
    ui.notice.textContent = t("microphoneDenied", { message: err.message });
    return;
  }
  const chunks = [];
  const began = performance.now();
  recorder = new MediaRecorder(stream);
  const timer = setInterval(() => {
    ui.record.textContent = `${t("stopRecording")} (${clock((performance.now() - began) / 1000)})`;
  }, 500);
  recorder.addEventListener("dataavailable", (e) => chunks.push(e.data));
  recorder.addEventListener("stop", () => {
    clearInterval(timer);
    for (const track of stream.getTracks()) track.stop();
    const type = recorder.mimeType || "audio/webm";
    const name = `recording-${new Date().toISOString().slice(0, 19)}.webm`;
    recorder = null;
    ui.record.setAttribute("aria-pressed", "false");
    ui.record.textContent = t("record");
    add([new File(chunks, name.replaceAll(":", "-"), { type })]);
  });
  recorder.start();
  ui.notice.textContent = "";
  ui.record.setAttribute("aria-pressed", "true");
  ui.record.textContent = t("stopRecording");
});

applyLanguage();
loadModels();
