"use strict";
// The page: files in, one streamed transcription at a time (POST /v1/audio/transcriptions with
// stream=true), segments and progress as they arrive, downloads rendered by the server (POST /web/render),
// finished results kept in this browser (IndexedDB).

const KEY_STORE = "gigaam-api.key";
const LANG_STORE = "gigaam-api.lang";
const KEYWORDS_STORE = "gigaam-api.keywords";
const EXTENSIONS = { text: "txt", srt: "srt", vtt: "vtt", json: "json", verbose_json: "json" };
const FORMAT_NAMES = { text: "TXT", srt: "SRT", vtt: "VTT", json: "JSON", verbose_json: "JSON" };

const $ = (selector, root = document) => root.querySelector(selector);
const ui = {
  fileInput: $("#file-input"), dropZone: $("#drop-zone"), record: $("#record-button"),
  model: $("#model-select"), format: $("#format-select"), formatHint: $("#format-hint"),
  words: $("#words-check"), keywords: $("#keywords-input"), numbers: $("#numbers-check"), diarize: $("#diarize-check"), notice: $("#notice"), jobs: $("#jobs"), template: $("#job-template"),
  clear: $("#clear-button"),
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
  for (const el of document.querySelectorAll("[data-i18n-title]")) el.title = t(el.dataset.i18nTitle);
  ui.langSwitch.textContent = t("switchTo");
  ui.langSwitch.lang = lang === "ru" ? "en" : "ru";
  ui.formatHint.textContent = t(`formatHint.${ui.format.value}`);
  renderModels();
  showNotice();
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

// ---- errors: a sentence in the page's language, the server's own text as a detail --------------
// `code`, `type`, `param` come from the server's error envelope (or an SSE error event); a few codes
// (`unreachable`, `stream_cut`, `missing_api_key`) are the page's own.
class ApiError extends Error {
  constructor(message, { code = null, type = null, param = null, status = 0 } = {}) {
    super(message);
    Object.assign(this, { code, type, param, status });
  }
}

function errorSentence(err) {
  const words = window.I18N[lang];
  const names = [`error.${err.code}`, `error.param.${err.param}`, `error.status${err.status}`, `error.${err.type}`];
  return t(names.find((name) => name in words) || "error.unknown");
}

// Fill `box` with the error: the sentence, then the server's message inside a <details>.
function showError(box, err) {
  const sentence = document.createElement("span");
  sentence.className = "error-text";
  sentence.textContent = errorSentence(err);
  box.replaceChildren(sentence);
  if (err.message) {
    const details = document.createElement("details");
    const summary = document.createElement("summary");
    const detail = document.createElement("span");
    summary.textContent = t("errorDetail");
    detail.className = "error-detail";
    detail.textContent = err.message;
    details.append(summary, detail);
    box.append(details);
  }
}

// ---- the API, with the key -------------------------------------------------------------------

let keyWaiters = [];

function askKey(err) {
  if (err) showError(ui.keyMessage, err);
  else ui.keyMessage.replaceChildren();
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
ui.keyButton.addEventListener("click", () => askKey(null).then((saved) => saved && loadModels()));

// fetch() with the stored key; a 401 asks for a key and retries, any other failure is an ApiError
// carrying the server's error envelope.
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
      throw new ApiError("", { code: "unreachable" });
    }
    if (response.ok) return response;
    const err = await responseError(response);
    if (!key && err.status === 401) err.code = "missing_api_key";
    if (err.status === 401 && (await askKey(err))) continue;
    throw err;
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

async function responseError(response) {
  try {
    const { error } = await response.json();
    return new ApiError(error.message, { ...error, status: response.status });
  } catch {
    return new ApiError(`HTTP ${response.status}`, { status: response.status });
  }
}

// ---- models: each served model once; an alias (`whisper-1` ...) names the model it stands for ------
let models = [];
let noticeError = null;

function renderModels() {
  const chosen = ui.model.value;
  const served = models.filter((m) => !m.alias_of);
  ui.model.replaceChildren(...served.map(({ id }) => {
    const option = new Option(id, id);
    const aliases = models.filter((m) => m.alias_of === id).map((m) => m.id);
    if (aliases.length) option.title = t("aliasesOf", { names: aliases.join(", ") });
    return option;
  }));
  if (served.some(({ id }) => id === chosen)) ui.model.value = chosen;
}

async function loadModels() {
  try {
    models = (await (await api("/v1/models")).json()).data;
    renderModels();
    noticeError = null;
    ui.notice.replaceChildren();
  } catch (err) {
    noticeError = err;
    showNotice();
  }
}

function showNotice() {
  if (!noticeError) return;
  showError(ui.notice, noticeError);
  ui.notice.prepend(`${t("modelsFailed")} `);
}

// ---- one file's transcription ----------------------------------------------------------------
const jobs = [];
const queue = [];
let busy = false;
const ACTIVE = new Set(["waiting", "uploading", "running"]);
const COPIED_MS = 3000; // how long «Текст скопирован» stays before the state shows again

const SPEAKER_COLOURS = 6; // style.css: .speaker[data-colour="0"] … "5"

// A `transcript.text.segment` event as the page keeps it; `speaker` only when diarized.
function streamedSegment(payload, diarized) {
  const segment = { id: Number(payload.id), start: payload.start, end: payload.end,
    text: payload.text, words: payload.words || [] };
  if (diarized) segment.speaker = payload.speaker;
  return segment;
}

class Job {
  // A file to transcribe, or (`saved`) a result kept in this browser from an earlier visit.
  constructor(file, saved = null) {
    this.file = file;
    this.name = saved ? saved.name : file.name;
    this.state = saved ? "done" : "waiting";
    this.savedId = saved ? saved.id : null;
    this.segments = [];
    this.duration = saved ? saved.duration : 0;
    this.text = saved ? saved.text : "";
    this.error = null;
    this.processed = 0;
    this.total = null; // exact, once the server has decoded the whole file
    this.estimate = null; // the length the file's header declares, sent before decoding ends
    this.started = 0;
    this.progressAt = 0;
    this.flashTimer = 0;
    this.abort = new AbortController();
    this.el = ui.template.content.firstElementChild.cloneNode(true);
    this.bar = $(".job-progress", this.el);
    this.list = $(".segments", this.el);
    $(".job-name", this.el).textContent = this.name;
    $(".cancel", this.el).addEventListener("click", () => this.cancel());
    $(".copy", this.el).addEventListener("click", () => this.copy(false));
    $(".copy-times", this.el).addEventListener("click", () => this.copy(true));
    $(".download", this.el).addEventListener("click", () => this.download());
    this.bar.removeAttribute("value");
    if (saved) {
      this.bar.value = 1;
      for (const segment of saved.segments) this.add(segment);
    }
    this.render();
  }

  set(state, error = null) {
    this.state = state;
    this.error = error;
    this.render();
  }

  render() {
    this.el.dataset.state = this.state;
    $(".job-status", this.el).textContent = t(this.flashTimer ? "copied" : this.state); // in the page's language
    $(".download", this.el).textContent = t("download", { format: FORMAT_NAMES[ui.format.value] });
    for (const name of [".copy", ".copy-times", ".download"]) $(name, this.el).disabled = this.state !== "done";
    for (const el of this.el.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
    if (this.error) showError($(".job-error", this.el), this.error);
    else $(".job-error", this.el).replaceChildren();
    this.tick();
  }

  tick() {
    const running = this.state === "running" || this.state === "uploading";
    const length = this.state === "done" ? this.duration : this.total ?? this.estimate;
    $(".job-duration", this.el).textContent = length ? t("duration", { time: clock(length) }) : "";
    const elapsed = this.started ? ((this.ended || performance.now()) - this.started) / 1000 : 0;
    $(".job-elapsed", this.el).textContent = this.started ? t("elapsed", { time: clock(elapsed) }) : "";
    let remaining = "";
    if (running && length && this.processed > 0) {
      // The whole file's time left: speed so far, measured at the last progress report, applied to the
      // audio left (the header's length until the server has decoded the whole file).
      const speed = this.processed / ((this.progressAt - this.started) / 1000);
      const left = (length - this.processed) / speed - (performance.now() - this.progressAt) / 1000;
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

  finish(state, error = null) {
    if (!ACTIVE.has(this.state)) return;
    this.ended = performance.now();
    if (state === "done") {
      this.bar.max = 1;
      this.bar.value = 1;
      saveResult(this);
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
    // One phrase a line (commas split too, as the API does); the server checks them and names a bad one.
    for (const phrase of ui.keywords.value.split(/[\n,]/)) {
      if (phrase.trim()) form.append("keywords[]", phrase.trim());
    }
    if (ui.numbers.checked) form.append("numbers", "digits");
    this.diarize = ui.diarize.checked;
    if (this.diarize) form.append("diarize", "true");
    try {
      const response = await api("/v1/audio/transcriptions", {
        method: "POST", body: form, signal: this.abort.signal,
      });
      this.requestId = response.headers.get("x-request-id");
      this.set("running");
      await this.read(response.body);
      this.finish("done");
    } catch (err) {
      if (err.name !== "AbortError") this.finish("failed", err);
    }
  }

  async read(body) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new ApiError("", { code: "stream_cut" });
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
    if (payload.error) throw new ApiError(payload.error.message, payload.error);
    if (payload.type === "transcript.text.segment") {
      this.add(streamedSegment(payload, this.diarize));
    } else if (payload.type === "transcript.progress") {
      this.processed = payload.processed_seconds;
      this.total = payload.total_seconds;
      this.estimate = payload.estimated_total_seconds ?? this.estimate;
      this.progressAt = performance.now();
      const length = this.total ?? this.estimate;
      if (length) {
        this.bar.max = length;
        this.bar.value = Math.min(this.processed, length);
      }
      this.tick();
    } else if (payload.type === "transcript.text.done") {
      // Diarized: the segments again, with the final speakers (the streamed ones had online labels).
      if (payload.segments) this.show(payload.segments.map((s) => streamedSegment(s, true)));
      this.text = payload.text;
      this.duration = payload.usage.seconds;
      return true;
    }
    return false;
  }

  show(segments) {
    this.segments = [];
    this.list.replaceChildren();
    for (const segment of segments) this.add(segment);
  }

  // A speaker is renamed in every segment, so copies and downloads carry the new name.
  rename(speaker) {
    const name = window.prompt(t("renamePrompt", { name: speaker }), speaker)?.trim();
    if (!name || name === speaker) return;
    this.show(this.segments.map((s) => (s.speaker === speaker ? { ...s, speaker: name } : s)));
    saveResult(this);
  }

  add(segment) {
    this.segments.push(segment);
    const atBottom = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 8;
    const item = document.createElement("li");
    const time = document.createElement("time");
    time.textContent = `${stamp(segment.start)}–${stamp(segment.end)}`;
    const text = document.createElement("span");
    text.textContent = segment.text;
    if (segment.speaker) {
      const badge = document.createElement("button");
      badge.type = "button";
      badge.className = "speaker";
      badge.textContent = segment.speaker;
      badge.title = t("renameSpeaker", { name: segment.speaker });
      badge.dataset.colour = this.colour(segment.speaker);
      badge.addEventListener("click", () => this.rename(segment.speaker));
      text.prepend(badge, " ");
    }
    item.append(time, text);
    this.list.insertBefore(item, $(".pending", this.list)); // before live.js's unfinished lines, if any
    if (atBottom) this.list.scrollTop = this.list.scrollHeight;
  }

  // Speakers keep their colour (in order of first appearance) when renamed: it follows the position.
  colour(speaker) {
    const order = [...new Set(this.segments.map((s) => s.speaker).filter(Boolean))];
    return String(order.indexOf(speaker) % SPEAKER_COLOURS);
  }

  async copy(withTimes) {
    const text = withTimes
      ? this.segments.map((s) => `${stamp(s.start)}–${stamp(s.end)} ${s.text}`).join("\n")
      : this.text;
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      // Plain http on a LAN has no clipboard API: copy through a selection instead.
      const area = document.createElement("textarea");
      area.value = text;
      document.body.append(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
    clearTimeout(this.flashTimer);
    this.flashTimer = setTimeout(() => {
      this.flashTimer = 0;
      this.render();
    }, COPIED_MS);
    this.render();
  }

  async download() {
    const format = ui.format.value;
    try {
      const response = await api("/web/render", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ response_format: format, duration: this.duration,
          segments: this.segments, words: ui.words.checked,
          speakers: this.segments.some((s) => s.speaker) }),
      });
      const link = document.createElement("a");
      link.href = URL.createObjectURL(await response.blob());
      link.download = `${this.name.replace(/\.[^.]*$/, "") || "transcript"}.${EXTENSIONS[format]}`;
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
    } catch (err) {
      this.error = err;
      this.render();
    }
  }
}

// ---- finished results, kept in this browser (IndexedDB: an hour of segments with word times can
// pass localStorage's few megabytes) ------------------------------------------------------------
const DB_NAME = "gigaam-api";
const RESULTS = "results";

function openResults() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(RESULTS, { keyPath: "id", autoIncrement: true });
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

// One transaction on the results store; resolves with `work`'s request's result once committed.
async function results(mode, work) {
  const db = await openResults();
  return new Promise((resolve, reject) => {
    const tx = db.transaction(RESULTS, mode);
    const request = work(tx.objectStore(RESULTS));
    tx.oncomplete = () => {
      db.close();
      resolve(request.result);
    };
    tx.onerror = () => reject(tx.error);
  });
}

async function saveResult(job) {
  const record = { name: job.name, duration: job.duration, text: job.text, segments: job.segments };
  if (job.savedId !== null) record.id = job.savedId; // saved before: a renamed speaker replaces it
  try {
    job.savedId = await results("readwrite", (store) => store.put(record));
    ui.clear.hidden = false;
  } catch {
    // No storage (a private window, or full): the result stays on the page until it is closed.
  }
}

async function restoreResults() {
  let saved = [];
  try {
    saved = await results("readonly", (store) => store.getAll());
  } catch {
    return;
  }
  const restored = saved.map((record) => new Job(null, record));
  jobs.unshift(...restored);
  ui.jobs.prepend(...restored.map((job) => job.el));
  ui.clear.hidden = !saved.length;
}

ui.clear.addEventListener("click", async () => {
  await results("readwrite", (store) => store.clear());
  for (const job of jobs.filter((j) => !ACTIVE.has(j.state))) {
    job.el.remove();
    jobs.splice(jobs.indexOf(job), 1);
  }
  ui.clear.hidden = true;
});

// Leaving the page mid-run loses that run: the browser asks first.
window.addEventListener("beforeunload", (e) => {
  if (jobs.some((job) => ACTIVE.has(job.state))) {
    e.preventDefault();
    e.returnValue = t("leaveWarning");
  }
});

function add(files) {
  for (const file of files) {
    const job = new Job(file);
    jobs.push(job);
    queue.push(job);
    ui.jobs.append(job.el); // top to bottom in the order they run
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

ui.format.addEventListener("change", () => {
  ui.formatHint.textContent = t(`formatHint.${ui.format.value}`);
  jobs.forEach((job) => job.render());
});

// The keywords are a user's standing list (names, terms): kept in this browser, like the key.
ui.keywords.value = localStorage.getItem(KEYWORDS_STORE) || "";
ui.keywords.addEventListener("input", () => localStorage.setItem(KEYWORDS_STORE, ui.keywords.value));

// ---- input: chooser, drag and drop, microphone -----------------------------------------------
ui.fileInput.addEventListener("change", () => {
  add([...ui.fileInput.files]);
  ui.fileInput.value = "";
});
// The whole window takes dropped files: a drop the page did not take would make the browser open the
// file in place of the page, losing every result on it.
for (const type of ["dragenter", "dragover"]) {
  window.addEventListener(type, (e) => {
    e.preventDefault();
    ui.dropZone.classList.add("over");
  });
}
window.addEventListener("dragleave", (e) => {
  if (!e.relatedTarget) ui.dropZone.classList.remove("over"); // left the window, not one element
});
window.addEventListener("drop", (e) => {
  e.preventDefault();
  ui.dropZone.classList.remove("over");
  add([...(e.dataTransfer?.files ?? [])]);
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
restoreResults();
