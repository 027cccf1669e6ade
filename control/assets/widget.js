/*
 * cxb web widget: a voice call to a cxb bot from a web page.
 *
 * Embed (the snippet of GET /api/v1/bots/{id}/widget):
 *   <script src="https://control.example.com/widget.js" data-bot-id="…" data-widget-key="…"
 *           data-endpoint="wss://voice.example.com/widget/{bot_id}" async></script>
 * Optional: data-button="none" draws no button (drive it with window.cxbWidget).
 *
 * window.cxbWidget = { start(), stop(), state, stats, message }
 *   state: "idle" | "connecting" | "in_call" | "ended" | "error"
 *   stats: { framesSent, framesReceived, bytesSent, bytesReceived, marksEchoed, clears, audioPlayedMs }
 * Every state change is also a `cxbwidget:state` event on window ({detail: {state, message}}).
 *
 * Protocol: the dataplane's Twilio Media Streams JSON over a WebSocket at
 * `data-endpoint?key=…`: we send `connected`, `start` (µ-law 8 kHz mono), a `media` frame
 * (160 bytes, 20 ms) per 20 ms of microphone, `mark` echoes once the audio before a mark has
 * played, `transfer_result` (browsers cannot be transferred: always "failed") and `stop`; the
 * server sends `media`, `mark`, `clear` (barge-in: playback flushed at once) and `transfer`.
 * Audio runs in two AudioWorklet processors (source below, loaded from a Blob URL): capture
 * (windowed-sinc low-pass resampler to 8 kHz, µ-law encoder) and playback (µ-law decoder,
 * resampler to the context rate, a queue with a ~60 ms jitter cushion and the marks in line).
 * Plain JavaScript, no dependencies.
 */
(() => {
  "use strict";

  const script = document.currentScript;
  const data = (name) => (script && script.getAttribute("data-" + name)) || "";
  const config = {
    botId: data("bot-id"),
    key: data("widget-key"),
    endpoint: data("endpoint"),
    button: data("button") !== "none",
  };

  // ---- Audio worklet processors (run on the audio thread) --------------------------------
  const WORKLET_SOURCE = String.raw`
"use strict";
const LINE_RATE = 8000;
const CUTOFF_HZ = 3600;

// A streaming windowed-sinc (Blackman) resampler from inRate to outRate with a low-pass at
// cutoffHz: every output sample is the convolution of the input with the kernel at its exact
// (fractional) position, so downsampling does not alias and upsampling does not image.
class Resampler {
  constructor(inRate, outRate, cutoffHz) {
    this.step = inRate / outRate;           // input samples per output sample
    const fc = cutoffHz / inRate;            // cycles per input sample
    this.half = Math.ceil(8 / (2 * fc));     // 8 zero crossings each side, in input samples
    this.res = 64;                           // table points per input sample
    const n = this.half * this.res;
    this.table = new Float32Array(n + 2);
    for (let i = 0; i <= n + 1; i++) {
      const d = i / this.res;
      const x = 2 * fc * d;
      const sinc = x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x);
      const w = d >= this.half ? 0 : 0.42 + 0.5 * Math.cos(Math.PI * d / this.half) + 0.08 * Math.cos(2 * Math.PI * d / this.half);
      this.table[i] = 2 * fc * sinc * w;
    }
    let size = 1;
    while (size < 4 * this.half + 8192) size <<= 1;
    this.buf = new Float32Array(size);
    this.mask = size - 1;
    this.reset();
  }
  reset() {
    this.buf.fill(0);
    this.count = this.half;   // samples written (starts with 'half' zeros of history)
    this.t = this.half;       // input position of the next output sample
  }
  kernel(d) {
    const p = Math.abs(d) * this.res;
    const i = p | 0;
    if (i >= this.table.length - 1) return 0;
    const f = p - i;
    return this.table[i] + (this.table[i + 1] - this.table[i]) * f;
  }
  // Feeds input samples [from, to) of 'input'; calls emit(sample) for each output sample ready.
  push(input, from, to, emit) {
    for (let j = from; j < to; j++) {
      this.buf[this.count & this.mask] = input[j];
      this.count++;
      while (this.t + this.half < this.count) {
        const lo = Math.ceil(this.t - this.half);
        const hi = Math.floor(this.t + this.half);
        let acc = 0;
        for (let k = lo; k <= hi; k++) acc += this.buf[k & this.mask] * this.kernel(this.t - k);
        emit(acc);
        this.t += this.step;
      }
    }
  }
}

function ulawEncode(x) {
  let s = Math.max(-1, Math.min(1, x)) * 32767;
  s = s < 0 ? Math.ceil(s) : Math.floor(s);
  const sign = s < 0 ? 0x80 : 0;
  if (s < 0) s = -s;
  if (s > 32635) s = 32635;
  s += 0x84;
  let exp = 7;
  for (let m = 0x4000; (s & m) === 0 && exp > 0; m >>= 1) exp--;
  const mant = (s >> (exp + 3)) & 0x0f;
  return ~(sign | (exp << 4) | mant) & 0xff;
}

const ULAW = new Float32Array(256);
for (let i = 0; i < 256; i++) {
  const u = ~i & 0xff;
  const exp = (u >> 4) & 7;
  let s = (((u & 0x0f) << 3) + 0x84) << exp;
  s -= 0x84;
  ULAW[i] = ((u & 0x80) ? -s : s) / 32768;
}

// Microphone → 8 kHz µ-law, 160-byte frames posted to the page.
class Capture extends AudioWorkletProcessor {
  constructor() {
    super();
    this.rs = new Resampler(sampleRate, LINE_RATE, CUTOFF_HZ);
    this.frame = new Uint8Array(160);
    this.n = 0;
    this.emit = (v) => {
      this.frame[this.n++] = ulawEncode(v);
      if (this.n === 160) {
        this.port.postMessage(this.frame, [this.frame.buffer]);
        this.frame = new Uint8Array(160);
        this.n = 0;
      }
    };
  }
  process(inputs) {
    const ch = inputs[0] && inputs[0][0];
    if (ch) this.rs.push(ch, 0, ch.length, this.emit);
    return true;
  }
}

// Bot audio: µ-law 8 kHz frames and marks in one queue, played at the context rate.
class Playback extends AudioWorkletProcessor {
  constructor() {
    super();
    this.rs = new Resampler(LINE_RATE, sampleRate, CUTOFF_HZ);
    this.cushion = Math.round(sampleRate * 0.06);
    this.queue = [];     // Float32Array chunks and {mark: name}
    this.head = 0;       // read offset in queue[0]
    this.queued = 0;     // samples queued
    this.playing = false;
    this.waited = 0;     // samples waited while buffering with something queued
    this.tmp = new Float32Array(160);
    this.played = 0;     // samples of bot audio played, not yet reported
    this.report = Math.round(sampleRate * 0.1);
    this.port.onmessage = (e) => this.onMessage(e.data);
  }
  onMessage(m) {
    if (m.t === "audio") {
      const codes = m.data;
      const n = Math.min(codes.length, this.tmp.length);
      for (let i = 0; i < n; i++) this.tmp[i] = ULAW[codes[i]];
      const out = [];
      this.rs.push(this.tmp, 0, n, (v) => out.push(v));
      if (out.length) {
        this.queue.push(Float32Array.from(out));
        this.queued += out.length;
      }
    } else if (m.t === "mark") {
      this.queue.push({ mark: m.name });
    } else if (m.t === "clear") {
      // Barge-in: drop the audio at once; the marks it held count as played (as Twilio does).
      for (const q of this.queue) if (!(q instanceof Float32Array)) this.port.postMessage({ t: "played", name: q.mark });
      this.queue = [];
      this.head = 0;
      this.queued = 0;
      this.playing = false;
      this.waited = 0;
      this.rs.reset();
    }
  }
  process(_inputs, outputs) {
    const out = outputs[0][0];
    let i = 0;
    if (!this.playing && this.queue.length) {
      const marked = this.queue.some((q) => !(q instanceof Float32Array));
      this.waited += out.length;
      if (this.queued >= this.cushion || marked || this.waited >= this.cushion) this.playing = true;
    }
    while (this.playing && i < out.length && this.queue.length) {
      const q = this.queue[0];
      if (!(q instanceof Float32Array)) {
        this.port.postMessage({ t: "played", name: q.mark });
        this.queue.shift();
        continue;
      }
      const n = Math.min(q.length - this.head, out.length - i);
      out.set(q.subarray(this.head, this.head + n), i);
      i += n;
      this.played += n;
      this.head += n;
      this.queued -= n;
      if (this.head === q.length) {
        this.queue.shift();
        this.head = 0;
      }
    }
    if (i < out.length) {
      out.fill(0, i);
      if (!this.queue.length) {
        this.playing = false;  // underrun: buffer the cushion again
        this.waited = 0;
      }
    }
    for (let c = 1; c < outputs[0].length; c++) outputs[0][c].set(out);
    if (this.played >= this.report) {
      this.port.postMessage({ t: "progress", ms: (this.played * 1000) / sampleRate });
      this.played = 0;
    }
    return true;
  }
}

registerProcessor("cxb-capture", Capture);
registerProcessor("cxb-playback", Playback);
`;

  // ---- Call state -----------------------------------------------------------------------
  const newStats = () => ({
    framesSent: 0,
    framesReceived: 0,
    bytesSent: 0,
    bytesReceived: 0,
    marksEchoed: 0,
    clears: 0,
    audioPlayedMs: 0,
  });
  let state = "idle";
  let message = "";
  let stats = newStats();
  let call = null; // the call under way: {ws, ctx, stream, capture, playback, streamSid, callSid, seq, chunk, started}
  let ui = null;

  const randomHex = (n) => {
    const b = new Uint8Array(n);
    crypto.getRandomValues(b);
    return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  };

  function setState(s, msg) {
    state = s;
    message = msg || "";
    if (ui) ui.render();
    try {
      window.dispatchEvent(new CustomEvent("cxbwidget:state", { detail: { state, message } }));
    } catch (_) {
      /* a page without CustomEvent: nothing to tell */
    }
  }

  // Sends one message; every one but `connected` gets the next `sequenceNumber` (as Twilio does).
  function send(obj) {
    if (!call || !call.ws || call.ws.readyState !== WebSocket.OPEN) return false;
    if (obj.event !== "connected") {
      call.seq += 1;
      obj.sequenceNumber = String(call.seq);
    }
    call.ws.send(JSON.stringify(obj));
    return true;
  }

  function toBase64(bytes) {
    let s = "";
    for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
    return btoa(s);
  }

  function fromBase64(text) {
    const s = atob(text);
    const out = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
    return out;
  }

  function onMicFrame(frame) {
    if (!call.started) return;
    const ok = send({
      event: "media",
      streamSid: call.streamSid,
      media: {
        track: "inbound",
        chunk: String(call.chunk),
        timestamp: String(call.chunk * 20),
        payload: toBase64(frame),
      },
    });
    if (ok) {
      call.chunk += 1;
      stats.framesSent += 1;
      stats.bytesSent += frame.length;
    }
  }

  function onServer(text) {
    let m;
    try {
      m = JSON.parse(text);
    } catch (_) {
      return;
    }
    if (!m || typeof m !== "object") return;
    switch (m.event) {
      case "media": {
        const payload = m.media && m.media.payload;
        if (typeof payload !== "string") return;
        let codes;
        try {
          codes = fromBase64(payload);
        } catch (_) {
          return;
        }
        stats.framesReceived += 1;
        stats.bytesReceived += codes.length;
        call.playback.port.postMessage({ t: "audio", data: codes }, [codes.buffer]);
        break;
      }
      case "mark": {
        const name = m.mark && m.mark.name;
        if (typeof name === "string") call.playback.port.postMessage({ t: "mark", name });
        break;
      }
      case "clear":
        stats.clears += 1;
        call.playback.port.postMessage({ t: "clear" });
        break;
      case "transfer":
        // A browser cannot be moved to another line: the bot keeps the caller.
        setState("in_call", "transferring…");
        send({
          event: "transfer_result",
          streamSid: call.streamSid,
          status: "failed",
          reason: "web widget calls cannot be transferred",
        });
        setTimeout(() => {
          if (state === "in_call" && message === "transferring…") setState("in_call", "");
        }, 1500);
        break;
      default:
        break;
    }
  }

  function onPlayed(msg) {
    if (!msg) return;
    if (msg.t === "progress") stats.audioPlayedMs += Math.round(msg.ms);
    if (msg.t !== "played") return;
    if (send({ event: "mark", streamSid: call.streamSid, mark: { name: msg.name } })) stats.marksEchoed += 1;
  }

  function release(c) {
    if (!c) return;
    if (c.stream) c.stream.getTracks().forEach((t) => t.stop());
    if (c.ctx && c.ctx.state !== "closed") c.ctx.close().catch(() => {});
    if (c.workletUrl) URL.revokeObjectURL(c.workletUrl);
  }

  async function start() {
    if (state === "connecting" || state === "in_call") return;
    if (!config.endpoint || !config.key) {
      setState("error", "widget not configured");
      return;
    }
    stats = newStats();
    const c = {
      ws: null,
      ctx: null,
      stream: null,
      streamSid: "MZ" + randomHex(16),
      callSid: "CA" + randomHex(16),
      seq: 0,
      chunk: 0,
      started: false,
    };
    call = c;
    setState("connecting");
    try {
      if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) throw new Error("no microphone access here");
      // The context first, while the click that called start() still counts as a user gesture
      // (autoplay policy); the microphone prompt may take longer than that.
      const AC = window.AudioContext || window.webkitAudioContext;
      c.ctx = new AC({ latencyHint: "interactive" });
      if (c.ctx.state === "suspended") c.ctx.resume().catch(() => {});
      c.workletUrl = URL.createObjectURL(new Blob([WORKLET_SOURCE], { type: "application/javascript" }));
      const worklet = c.ctx.audioWorklet.addModule(c.workletUrl);
      worklet.catch(() => {}); // awaited below, once the microphone is ours (and released on error)
      c.stream = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: true, noiseSuppression: true },
      });
      await worklet;
      if (call !== c) return release(c);
      const mic = c.ctx.createMediaStreamSource(c.stream);
      c.capture = new AudioWorkletNode(c.ctx, "cxb-capture", {
        numberOfInputs: 1,
        numberOfOutputs: 1,
        outputChannelCount: [1],
        channelCount: 1,
        channelCountMode: "explicit",
      });
      c.playback = new AudioWorkletNode(c.ctx, "cxb-playback", {
        numberOfInputs: 0,
        numberOfOutputs: 1,
        outputChannelCount: [1],
      });
      mic.connect(c.capture);
      c.capture.connect(c.ctx.destination); // silent output: keeps the capture processor pulled
      c.playback.connect(c.ctx.destination);
      c.capture.port.onmessage = (e) => {
        if (call === c) onMicFrame(e.data);
      };
      c.playback.port.onmessage = (e) => {
        if (call === c) onPlayed(e.data);
      };
    } catch (e) {
      release(c);
      if (call === c) {
        call = null;
        const name = e && e.name;
        setState(
          "error",
          name === "NotAllowedError" ? "microphone blocked" : name === "NotFoundError" ? "no microphone" : "audio unavailable",
        );
      }
      return;
    }
    const sep = config.endpoint.includes("?") ? "&" : "?";
    const ws = new WebSocket(config.endpoint + sep + "key=" + encodeURIComponent(config.key));
    c.ws = ws;
    ws.onopen = () => {
      if (call !== c) return;
      send({ event: "connected", protocol: "Call", version: "1.0.0" });
      send({
        event: "start",
        streamSid: c.streamSid,
        start: {
          streamSid: c.streamSid,
          accountSid: "web-widget",
          callSid: c.callSid,
          tracks: ["inbound"],
          customParameters: { page: String(location.href).slice(0, 512) },
          mediaFormat: { encoding: "audio/x-mulaw", sampleRate: 8000, channels: 1 },
        },
      });
      c.started = true;
      setState("in_call");
    };
    ws.onmessage = (e) => {
      if (call === c && typeof e.data === "string") onServer(e.data);
    };
    ws.onclose = () => {
      if (call !== c) return;
      call = null;
      release(c);
      if (c.started) setState("ended");
      else setState("error", "could not connect");
    };
  }

  function stop() {
    const c = call;
    if (!c) return;
    if (c.started) send({ event: "stop", streamSid: c.streamSid, stop: { accountSid: "web-widget", callSid: c.callSid } });
    call = null;
    if (c.ws && c.ws.readyState <= WebSocket.OPEN) c.ws.close(1000, "caller hung up");
    release(c);
    setState("ended");
  }

  // ---- The button (Shadow DOM: the page's CSS does not reach it) -------------------------
  const STYLE = `
:host { all: initial; position: fixed; right: 20px; bottom: 20px; z-index: 2147483000; }
.w { display: flex; align-items: center; gap: 10px; font: 14px/1.3 system-ui, sans-serif; }
.msg { background: #fff; color: #222; padding: 6px 10px; border-radius: 8px; box-shadow: 0 2px 8px rgba(0,0,0,.2); max-width: 220px; }
.msg:empty { display: none; }
button { width: 56px; height: 56px; border-radius: 50%; border: 0; cursor: pointer; color: #fff; background: #1a7f37;
         box-shadow: 0 2px 10px rgba(0,0,0,.3); display: grid; place-items: center; padding: 0; }
button:focus-visible { outline: 3px solid #0969da; outline-offset: 2px; }
button[data-state="connecting"] { background: #bf8700; }
button[data-state="in_call"] { background: #cf222e; }
button[data-state="in_call"] svg { transform: rotate(135deg); }
button[data-state="error"] { background: #57606a; }
svg { width: 26px; height: 26px; fill: currentColor; }
`;
  const PHONE =
    '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M6.6 10.8a15.1 15.1 0 0 0 6.6 6.6l2.2-2.2c.3-.3.7-.4 1-.2 1.1.4 2.3.6 3.6.6.6 0 1 .4 1 1V20c0 .6-.4 1-1 1C10.6 21 3 13.4 3 4c0-.6.4-1 1-1h3.5c.6 0 1 .4 1 1 0 1.3.2 2.5.6 3.6.1.3 0 .7-.2 1l-2.3 2.2z"/></svg>';
  const LABELS = {
    idle: ["Call us", ""],
    connecting: ["Connecting", "Connecting…"],
    in_call: ["Hang up", "In call"],
    ended: ["Call again", "Call ended"],
    error: ["Try again", "Error"],
  };

  function mount() {
    if (ui || !config.button || !document.body) return;
    const host = document.createElement("div");
    host.setAttribute("data-cxb-widget", config.botId);
    const root = host.attachShadow({ mode: "open" });
    root.innerHTML = `<style>${STYLE}</style><div class="w"><div class="msg" role="status" aria-live="polite"></div><button type="button">${PHONE}</button></div>`;
    const btn = root.querySelector("button");
    const msg = root.querySelector(".msg");
    btn.addEventListener("click", () => {
      if (state === "connecting" || state === "in_call") stop();
      else start();
    });
    ui = {
      render() {
        const [label, text] = LABELS[state] || LABELS.idle;
        btn.dataset.state = state;
        btn.setAttribute("aria-label", label);
        btn.title = label;
        msg.textContent = message ? (state === "error" ? "Error: " + message : message) : text;
      },
    };
    ui.render();
    document.body.appendChild(host);
  }

  window.cxbWidget = {
    start,
    stop,
    get state() {
      return state;
    },
    get message() {
      return message;
    },
    get stats() {
      return Object.assign({}, stats);
    },
  };
  if (!config.endpoint) setState("error", "widget not configured");
  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);
})();
