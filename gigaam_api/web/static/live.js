"use strict";
// Live transcription (the «Live» button): the microphone as PCM16 at 16 kHz over OpenAI's realtime socket
// (/v1/realtime?intent=transcription, server VAD), each utterance one line of a result card: its partial
// text greyed while it is spoken, then its final text in black. Uses app.js's words, `api`, and `Job` card
// (copy, download and keeping the result in this browser work as for files).

const LIVE_RATE = 16_000; // this server also takes 16 kHz (OpenAI's is 24 kHz): nothing is resampled on it
const TRANSCRIPTION = "conversation.item.input_audio_transcription.";
const STOP_COMMIT = "page-stop"; // the event id of the commit "stop" sends
// Errors after which the server closes the socket (docs/realtime.md).
const SESSION_ENDING = new Set(["too_many_sessions", "idle_timeout", "session_expired", "input_audio_buffer_overflow"]);
const liveButton = $("#live-button");

// Microphone blocks (float, the audio context's rate) to 16 kHz: each output sample is the mean of the
// input samples of its span, a box filter (enough against aliasing for speech), the part-filled span
// carried to the next block. At 16 kHz, the usual case, samples pass through unchanged.
class Downsampler {
  constructor(rate) {
    this.step = rate / LIVE_RATE;
    this.next = this.step;
    this.position = 0;
    this.sum = 0;
    this.count = 0;
  }

  push(input) {
    const output = [];
    for (const sample of input) {
      this.sum += sample;
      this.count += 1;
      this.position += 1;
      if (this.position >= this.next) {
        output.push(this.sum / this.count);
        this.sum = this.count = 0;
        this.next += this.step;
      }
    }
    return output;
  }
}

// PCM16 little-endian, base64: an `input_audio_buffer.append`'s `audio`.
function pcm16Base64(samples) {
  const bytes = new Uint8Array(samples.length * 2);
  const view = new DataView(bytes.buffer);
  samples.forEach((x, i) => view.setInt16(i * 2, Math.round(Math.max(-1, Math.min(1, x)) * 32767), true));
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

// The microphone through an AudioWorklet (live-capture.js), or a ScriptProcessor where there is none;
// `onSamples` gets its float samples at 16 kHz. `stop()` hands over the last part-filled block first.
async function openMicrophone(stream, onSamples) {
  let context = new AudioContext({ sampleRate: LIVE_RATE }); // the browser resamples the microphone
  let source;
  try {
    source = context.createMediaStreamSource(stream);
  } catch {
    await context.close(); // a browser that cannot connect a stream at another rate: resampled here
    context = new AudioContext();
    source = context.createMediaStreamSource(stream);
  }
  const down = new Downsampler(context.sampleRate);
  const take = (block) => onSamples(down.push(block));
  let flush = () => Promise.resolve();
  let node;
  if (context.audioWorklet) {
    await context.audioWorklet.addModule("/web/live-capture.js");
    node = new AudioWorkletNode(context, "live-capture");
    let flushed = null;
    node.port.onmessage = ({ data }) => (data === "flushed" ? flushed() : take(data));
    flush = () => new Promise((resolve) => {
      flushed = resolve;
      node.port.postMessage("flush");
    });
  } else {
    node = context.createScriptProcessor(4096, 1, 1);
    node.onaudioprocess = (e) => take(e.inputBuffer.getChannelData(0).slice());
  }
  source.connect(node);
  node.connect(context.destination); // silent: nothing is written to the output; a graph must end there
  await context.resume(); // the click that started it is the user gesture the autoplay policy wants
  return {
    async stop() {
      source.disconnect();
      await flush();
      for (const track of stream.getTracks()) track.stop();
      await context.close();
    },
  };
}

// A live session's card: a Job whose segments are the finished utterances.
class LiveJob extends Job {
  constructor() {
    super({ name: `live-${new Date().toISOString().slice(0, 19).replaceAll(":", "-")}` });
    this.el.classList.add("live");
    this.lines = new Map(); // item id → its greyed line, until the item's final text (or failure)
    this.starts = new Map(); // item id → where it starts in the session's audio, seconds
    this.speaking = null; // the item the server's VAD is in (speech started, not committed yet)
    this.outbox = []; // events captured before the socket is open
    this.samples = 0;
    this.stopping = false;
    this.commitSent = false; // the stop's commit
    this.committed = false; // ... is answered: nothing is left uncommitted on the server
    this.ws = null;
    this.microphone = null;
    this.failure = null; // the `error` event that ends the session, if one did
  }

  render() {
    super.render();
    if (this.state === "running" && !this.flashTimer) {
      $(".job-status", this.el).textContent = t(this.stopping ? "liveFinishing" : "listening");
    }
  }

  async start(stream) {
    this.started = performance.now();
    this.set("running");
    try {
      this.microphone = await openMicrophone(stream, (samples) => this.audio(samples));
      if (this.stopping) await this.releaseMicrophone(); // «stop» came while it opened
      stream.getAudioTracks()[0]?.addEventListener("ended", () => this.stop()); // unplugged, or revoked
      // The secret is asked for even without a key: the HTTP answer says what a refused socket cannot
      // (a key is needed or wrong, the model is loading or unknown). It carries the session's settings.
      const session = { type: "transcription", audio: { input: {
        format: { type: "audio/pcm", rate: LIVE_RATE },
        turn_detection: { type: "server_vad" },
        ...(ui.model.value ? { transcription: { model: ui.model.value } } : {}),
      } } };
      const response = await api("/v1/realtime/client_secrets", {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ session }),
      });
      this.connect((await response.json()).value);
    } catch (err) {
      this.end("failed", err instanceof ApiError ? err : new ApiError(err.message));
    }
  }

  connect(secret) {
    if (this.state !== "running") return; // ended while the secret was asked for
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    // A browser cannot set headers on a WebSocket: the secret goes in the subprotocol, as OpenAI's does.
    this.ws = new WebSocket(`${scheme}://${location.host}/v1/realtime?intent=transcription`,
      ["realtime", `openai-insecure-api-key.${secret}`]);
    this.ws.addEventListener("open", () => {
      for (const event of this.outbox.splice(0)) this.ws.send(JSON.stringify(event));
      if (this.stopping) this.commitRest();
    });
    this.ws.addEventListener("message", (m) => this.event(JSON.parse(m.data)));
    this.ws.addEventListener("close", () => this.closed());
  }

  send(event) {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(event));
    else this.outbox.push(event);
  }

  audio(samples) {
    if (!samples.length || this.state !== "running") return;
    this.samples += samples.length;
    this.send({ type: "input_audio_buffer.append", audio: pcm16Base64(samples) });
  }

  // «Stop»: the microphone's last block goes out, then a commit of whatever the VAD has not closed; the
  // socket is closed once every utterance has its final text.
  async stop() {
    if (this.stopping || this.state !== "running") return;
    this.stopping = true;
    this.render();
    await this.releaseMicrophone();
    if (this.ws?.readyState === WebSocket.OPEN) this.commitRest();
  }

  commitRest() {
    this.commitSent = true;
    this.send({ type: "input_audio_buffer.commit", event_id: STOP_COMMIT });
  }

  // One server event. Each utterance: speech_started → deltas → committed → completed (or failed).
  event(e) {
    if (e.type === "input_audio_buffer.speech_started") {
      this.speaking = e.item_id;
      this.starts.set(e.item_id, e.audio_start_ms / 1000);
      this.line(e.item_id);
    } else if (e.type === `${TRANSCRIPTION}delta`) {
      const text = $("span", this.line(e.item_id));
      text.textContent += e.delta;
    } else if (e.type === "input_audio_buffer.committed") {
      if (this.speaking === e.item_id) this.speaking = null;
      this.committed ||= this.commitSent;
      this.line(e.item_id); // made here if no speech_started came
    } else if (e.type === `${TRANSCRIPTION}completed`) {
      const start = this.starts.get(e.item_id) ?? 0;
      this.add({ id: this.segments.length, start, end: start + e.usage.seconds, text: e.transcript, words: [] });
      this.drop(e.item_id);
    } else if (e.type === `${TRANSCRIPTION}failed`) {
      this.drop(e.item_id);
      this.error = new ApiError(e.error.message, e.error);
      this.render();
    } else if (e.type === "error") {
      const err = new ApiError(e.error.message, e.error);
      if (e.error.event_id === STOP_COMMIT && e.error.code === "input_audio_buffer_commit_empty") {
        this.committed = true; // nothing was left to commit
      } else if (SESSION_ENDING.has(err.code)) {
        this.failure = err; // the server closes the socket next
      } else {
        this.error = err;
        this.render();
      }
    }
    if (this.stopping && this.committed && !this.speaking && !this.lines.size) this.ws.close(1000);
  }

  // The greyed line of an utterance still being spoken or transcribed (made on first mention).
  line(item) {
    if (!this.lines.has(item)) {
      const li = document.createElement("li");
      li.className = "pending";
      const time = document.createElement("time");
      time.textContent = `${stamp(this.starts.get(item) ?? this.samples / LIVE_RATE)}–…`;
      li.append(time, document.createElement("span"));
      this.lines.set(item, li);
      this.list.append(li);
    }
    return this.lines.get(item);
  }

  drop(item) {
    this.lines.get(item)?.remove();
    this.lines.delete(item);
    this.starts.delete(item);
  }

  closed() {
    if (this.stopping && this.committed && !this.lines.size) this.end("done");
    else if (this.failure) this.end("failed", this.failure);
    // The handshake was refused (browsers hide why) or the connection dropped.
    else this.end("failed", new ApiError("", { code: this.ws.protocol ? "stream_cut" : "live_refused" }));
  }

  async releaseMicrophone() {
    const microphone = this.microphone;
    this.microphone = null;
    await microphone?.stop().catch(() => {}); // already closed: nothing to release
  }

  // A session the server or the network ended keeps what it transcribed: a card with lines stays
  // "done" (copy, download) and shows the error.
  end(state, error = null) {
    if (state === "failed" && this.segments.length) state = "done";
    this.releaseMicrophone();
    for (const li of this.lines.values()) li.remove();
    this.lines.clear();
    this.text = this.segments.map((s) => s.text).join(" ");
    this.duration = this.samples / LIVE_RATE;
    if (live === this) live = null;
    showLiveButton();
    this.finish(state, error);
  }
}

let live = null; // the running session, if any

function showLiveButton() {
  liveButton.dataset.i18n = live ? "stopLive" : "live";
  liveButton.textContent = t(liveButton.dataset.i18n);
  liveButton.setAttribute("aria-pressed", String(Boolean(live)));
}

liveButton.addEventListener("click", async () => {
  if (live) {
    live.stop();
    return;
  }
  if (!navigator.mediaDevices?.getUserMedia || !window.AudioContext) {
    ui.notice.textContent = t("noMicrophone");
    return;
  }
  let stream;
  liveButton.disabled = true; // until the browser has asked for the microphone
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      // The voice as it is: echo cancellation and noise suppression reshape speech (the model does better).
      audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false },
    });
  } catch (err) {
    ui.notice.textContent = t("microphoneDenied", { message: err.message });
    return;
  } finally {
    liveButton.disabled = false;
  }
  ui.notice.textContent = "";
  live = new LiveJob();
  jobs.push(live);
  ui.jobs.append(live.el);
  showLiveButton();
  live.start(stream);
});
