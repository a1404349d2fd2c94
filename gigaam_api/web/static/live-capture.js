"use strict";
// An AudioWorklet (live.js loads it): the microphone's first channel, at the context's rate, handed to the
// page in blocks of about 100 ms (one `input_audio_buffer.append` each). A message from the page asks
// for the part-filled block now (the last words before "stop"), then a "flushed" reply.
const BLOCK_SECONDS = 0.1;

class LiveCapture extends AudioWorkletProcessor {
  constructor() {
    super();
    this.block = new Float32Array(Math.round(sampleRate * BLOCK_SECONDS));
    this.filled = 0;
    this.port.onmessage = () => {
      this.post();
      this.port.postMessage("flushed");
    };
  }

  post() {
    if (this.filled) this.port.postMessage(this.block.slice(0, this.filled));
    this.filled = 0;
  }

  process(inputs) {
    const samples = inputs[0]?.[0];
    for (let i = 0; samples && i < samples.length; ) {
      const n = Math.min(samples.length - i, this.block.length - this.filled);
      this.block.set(samples.subarray(i, i + n), this.filled);
      this.filled += n;
      i += n;
      if (this.filled === this.block.length) this.post();
    }
    return true;
  }
}

registerProcessor("live-capture", LiveCapture);
