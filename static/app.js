"use strict";
// The page: a source picker (the server's sources by index, or the visitor's own camera),
// the annotated stream or camera with live scores, per-face timelines of the last minute,
// recording to CSV, and the photo upload form.
const EMOTIONS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"];
const COLORS = {  // the stream's box colours (pipeline.COLORS, as CSS)
  angry: "#dc2828", disgust: "#288c3c", fear: "#a03ca0", happy: "#f0c828",
  sad: "#2878c8", surprise: "#ffa028", neutral: "#bebebe",
};
const COLUMNS = ["frame", "time_s", "face_id", "x", "y", "w", "h", "emotion", "confidence",
  ...EMOTIONS];  // analyze.py's faces.csv
const TIMELINE_S = 60;
const $ = (id) => document.getElementById(id);

const state = {
  source: null,        // {kind: "server", index} or {kind: "camera"}
  generation: 0,       // bumped on every switch: loops of an old source stop
  lastFrame: -1,       // the newest server frame whose results were read
  timelines: new Map(), // face id -> [{t, scores}] (t in seconds)
  recording: null,     // {rows: [], t0, frames} while recording
  received: [],        // arrival times of the last frames (performance.now())
  serverLost: false,
};

// ---------------------------------------------------------------- faces and bars
function renderFaces(container, faces) {
  container.replaceChildren();
  if (!faces.length) {
    const p = document.createElement("p");
    p.className = "empty";
    p.textContent = "No face found.";
    container.append(p);
    return;
  }
  const template = $("face-template");
  faces.forEach((face, i) => {
    const node = template.content.firstElementChild.cloneNode(true);
    const name = face.id === undefined ? `Face ${i + 1}` : `Face ${face.id}`;
    node.querySelector("h3").textContent =
      `${name}: ${face.emotion} (${Math.round(face.confidence * 100)}%)`;
    node.dataset.emotion = face.emotion;
    const bars = node.querySelector(".bars");
    for (const emotion of EMOTIONS) {
      const score = face.scores[emotion];
      const row = document.createElement("div");
      row.className = "bar" + (emotion === face.emotion ? " top" : "");
      row.dataset.emotion = emotion;
      const label = document.createElement("span");
      label.textContent = emotion;
      const track = document.createElement("span");
      track.className = "track";
      const fill = document.createElement("span");
      fill.className = "fill";
      fill.style.width = `${(score * 100).toFixed(1)}%`;
      fill.style.display = "block";
      track.append(fill);
      const pct = document.createElement("span");
      pct.className = "pct";
      pct.textContent = `${Math.round(score * 100)}%`;
      row.append(label, track, pct);
      bars.append(row);
    }
    container.append(node);
  });
}

// ---------------------------------------------------------------- timelines
function addToTimelines(t, faces) {
  for (const face of faces) {
    if (face.id === undefined) continue;
    if (!state.timelines.has(face.id)) state.timelines.set(face.id, []);
    state.timelines.get(face.id).push({ t, scores: face.scores });
  }
  for (const [id, points] of state.timelines) {
    while (points.length && points[0].t < t - TIMELINE_S) points.shift();
    if (!points.length) state.timelines.delete(id);
  }
}

function drawTimelines() {
  const box = $("timelines");
  const ids = [...state.timelines.keys()].sort((a, b) => a - b).slice(0, 6);
  if (!ids.length) {
    if (!box.querySelector(".empty")) {
      const p = document.createElement("p");
      p.className = "empty";
      p.textContent = "Timelines appear with the first face.";
      box.replaceChildren(p);
    }
    return;
  }
  box.querySelector(".empty")?.remove();
  for (const old of box.querySelectorAll("figure")) {
    if (!ids.includes(Number(old.dataset.face))) old.remove();
  }
  const now = Math.max(...ids.map((id) => state.timelines.get(id).at(-1).t));
  for (const id of ids) {
    let fig = box.querySelector(`figure[data-face="${id}"]`);
    if (!fig) {
      fig = document.createElement("figure");
      fig.dataset.face = id;
      const cap = document.createElement("figcaption");
      cap.textContent = `Face ${id}`;
      const canvas = document.createElement("canvas");
      canvas.width = 320;
      canvas.height = 90;
      canvas.setAttribute("role", "img");
      canvas.setAttribute("aria-label", `emotion probabilities of face ${id}, last minute`);
      fig.append(cap, canvas);
      box.append(fig);
    }
    plot(fig.querySelector("canvas"), state.timelines.get(id), now);
  }
}

function plot(canvas, points, now) {
  const ctx = canvas.getContext("2d");
  const { width: w, height: h } = canvas;
  ctx.clearRect(0, 0, w, h);
  ctx.strokeStyle = "#e2e5ea";
  ctx.lineWidth = 1;
  for (const f of [0, 0.5, 1]) {
    ctx.beginPath();
    ctx.moveTo(0, h - f * (h - 4) - 2);
    ctx.lineTo(w, h - f * (h - 4) - 2);
    ctx.stroke();
  }
  const x = (t) => w - ((now - t) / TIMELINE_S) * w;
  for (const emotion of EMOTIONS) {
    ctx.strokeStyle = COLORS[emotion];
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    points.forEach((p, i) => {
      const y = h - p.scores[emotion] * (h - 4) - 2;
      if (i === 0 || p.t - points[i - 1].t > 2) ctx.moveTo(x(p.t), y);
      else ctx.lineTo(x(p.t), y);
    });
    ctx.stroke();
  }
}

function legend() {
  const p = $("legend");
  for (const emotion of EMOTIONS) {
    const item = document.createElement("span");
    item.style.setProperty("--c", COLORS[emotion]);
    item.textContent = emotion;
    p.append(item);
  }
}

// ---------------------------------------------------------------- recording
function toggleRecording() {
  if (state.recording) {
    stopRecording();
    return;
  }
  state.recording = { rows: [], t0: null, frames: 0 };
  $("record").textContent = "Stop recording";
  $("record").classList.add("recording");
  $("downloads").replaceChildren();
  $("record-summary").hidden = true;
  $("record-status").textContent = "Recording…";
}

function recordFrame(frame, t, faces) {
  const rec = state.recording;
  if (!rec) return;
  if (rec.t0 === null) rec.t0 = t;
  rec.frames += 1;
  for (const f of faces) {
    rec.rows.push([frame, +(t - rec.t0).toFixed(3), f.id ?? "", ...f.box, f.emotion,
      f.confidence, ...EMOTIONS.map((e) => f.scores[e])]);
  }
  $("record-status").textContent =
    `Recording… ${rec.frames} frames, ${rec.rows.length} face rows`;
}

function summarize(rows) {
  // per face: frames, seconds, share of frames (time) per emotion, dominant emotion
  const faces = new Map();
  for (const r of rows) {
    const id = r[2];
    if (!faces.has(id)) faces.set(id, { frames: 0, first: r[1], last: r[1], counts: {} });
    const f = faces.get(id);
    f.frames += 1;
    f.last = r[1];
    f.counts[r[7]] = (f.counts[r[7]] || 0) + 1;
  }
  const header = ["face_id", "frames", "seconds", ...EMOTIONS.map((e) => `share_${e}`),
    "dominant"];
  const out = [];
  for (const [id, f] of faces) {
    const shares = EMOTIONS.map((e) => +((f.counts[e] || 0) / f.frames).toFixed(4));
    const dominant = EMOTIONS[shares.indexOf(Math.max(...shares))];
    out.push([id, f.frames, +(f.last - f.first).toFixed(2), ...shares, dominant]);
  }
  return [header, out];
}

function csv(header, rows) {
  return [header, ...rows].map((r) => r.join(",")).join("\n") + "\n";
}

function link(name, text) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob([text], { type: "text/csv" }));
  a.download = name;
  a.textContent = name;
  a.id = `download-${name.replace(/\W/g, "-")}`;
  return a;
}

function stopRecording() {
  const rec = state.recording;
  state.recording = null;
  $("record").textContent = "Start recording";
  $("record").classList.remove("recording");
  if (!rec) return;
  for (const old of $("downloads").querySelectorAll("a")) URL.revokeObjectURL(old.href);
  const [header, summary] = summarize(rec.rows);
  const stamp = new Date().toISOString().slice(0, 19).replace(/[:T]/g, "-");
  $("downloads").replaceChildren(
    link(`faces-${stamp}.csv`, csv(COLUMNS, rec.rows)), " ",
    link(`summary-${stamp}.csv`, csv(header, summary)));
  $("record-status").textContent =
    `Recorded ${rec.frames} frames, ${rec.rows.length} face rows, ${summary.length} face(s):`;
  const table = $("record-summary");
  const head = document.createElement("tr");
  for (const h of ["face", "seconds", ...EMOTIONS, "dominant"]) {
    const th = document.createElement("th");
    th.textContent = h;
    head.append(th);
  }
  table.tHead.replaceChildren(head);
  table.tBodies[0].replaceChildren(...summary.map((r) => {
    const tr = document.createElement("tr");
    for (const v of [r[0], r[2], ...r.slice(3, 10).map((s) => `${Math.round(s * 100)}%`),
      r[10]]) {
      const td = document.createElement("td");
      td.textContent = v;
      tr.append(td);
    }
    return tr;
  }));
  table.hidden = summary.length === 0;
}

// ---------------------------------------------------------------- received frame rate
function frameReceived() {
  const now = performance.now();
  state.received.push(now);
  while (state.received.length && state.received[0] < now - 2000) state.received.shift();
}

function receivedFps() {
  const r = state.received;
  const now = performance.now();
  while (r.length && r[0] < now - 2000) r.shift();
  if (r.length < 2) return 0;
  return (r.length - 1) / (Math.max(now, r.at(-1)) - r[0]) * 1000;
}

// ---------------------------------------------------------------- server sources
function indexOf(buf, pattern, from) {
  outer: for (let i = from; i <= buf.length - pattern.length; i++) {
    for (let j = 0; j < pattern.length; j++) if (buf[i + j] !== pattern[j]) continue outer;
    return i;
  }
  return -1;
}

const HEADER_END = new TextEncoder().encode("\r\n\r\n");

async function readStream(index, generation) {
  // read the MJPEG stream ourselves: every frame that arrives is shown and counted, so
  // the frame rate on the page is the one this viewer receives
  const img = $("stream");
  while (state.generation === generation) {
    try {
      const response = await fetch(`/video_feed/${index}`, { cache: "no-store" });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const reader = response.body.getReader();
      let buf = new Uint8Array(0);
      while (state.generation === generation) {
        const { value, done } = await reader.read();
        if (done) break;
        const joined = new Uint8Array(buf.length + value.length);
        joined.set(buf);
        joined.set(value, buf.length);
        buf = joined;
        for (;;) {
          const end = indexOf(buf, HEADER_END, 0);
          if (end < 0) break;
          const head = new TextDecoder().decode(buf.subarray(0, end));
          const match = /content-length:\s*(\d+)/i.exec(head);
          if (!match) throw new Error("malformed stream");
          const start = end + 4;
          const length = Number(match[1]);
          if (buf.length < start + length) break;
          const jpeg = buf.slice(start, start + length);
          buf = buf.slice(start + length);
          const old = img.src;
          img.src = URL.createObjectURL(new Blob([jpeg], { type: "image/jpeg" }));
          if (old.startsWith("blob:")) URL.revokeObjectURL(old);
          frameReceived();
        }
      }
      reader.cancel().catch(() => {});
    } catch (err) {
      state.serverLost = true;
    }
    if (state.generation === generation) await sleep(1000);  // ended or dropped: reopen
  }
}

async function pollStatus(index, generation) {
  while (state.generation === generation) {
    try {
      const response = await fetch(
        `/api/status?source=${index}&after=${state.lastFrame}`, { cache: "no-store" });
      const s = await response.json();
      if (state.generation !== generation) return;
      if (!response.ok) throw new Error(s.error || `HTTP ${response.status}`);
      state.serverLost = false;
      if (s.frame !== null && s.frame < state.lastFrame) state.lastFrame = -1;  // restarted
      for (const f of s.frames || []) {
        state.lastFrame = Math.max(state.lastFrame, f.frame);
        addToTimelines(f.t, f.faces);
        recordFrame(f.frame, f.t, f.faces);
      }
      $("state").textContent = s.status;
      $("source").textContent = s.source;
      $("fps").textContent = receivedFps().toFixed(1);
      renderFaces($("faces"), s.faces);
      drawTimelines();
    } catch (err) {
      state.serverLost = true;
      $("state").textContent = "server unreachable: reconnecting…";
      $("fps").textContent = receivedFps().toFixed(1);
    }
    await sleep(500);
  }
}

// ---------------------------------------------------------------- the visitor's camera
let cameraStream = null;

function cameraError(err) {
  const name = err && err.name;
  if (name === "NotAllowedError" || name === "SecurityError") {
    return "Camera permission was denied. Allow the camera for this page in the " +
      "browser's site settings, then choose “My camera” again.";
  }
  if (name === "NotFoundError" || name === "OverconstrainedError") {
    return "No camera was found on this device.";
  }
  if (name === "NotReadableError" || name === "AbortError") {
    return "The camera could not be started: another application may be using it.";
  }
  return `The camera could not be started: ${err && err.message ? err.message : err}`;
}

function stopCamera() {
  if (cameraStream) cameraStream.getTracks().forEach((t) => t.stop());
  cameraStream = null;
  $("camera").srcObject = null;
}

async function startCamera(generation) {
  const video = $("camera");
  const message = $("camera-message");
  $("source").textContent = "my camera";
  $("rtt-wrap").hidden = false;
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    message.textContent = "This browser shares a camera only with pages served over " +
      "https:// or from localhost. Open the page at http://localhost, or start the server " +
      "with --cert and --key and open it with https://.";
    message.hidden = false;
    $("state").textContent = "no camera";
    return;
  }
  $("state").textContent = "asking for the camera…";
  try {
    const stream = await navigator.mediaDevices.getUserMedia({
      video: { width: { ideal: 640 }, height: { ideal: 480 } }, audio: false });
    if (state.generation !== generation) {
      stream.getTracks().forEach((t) => t.stop());
      return;
    }
    cameraStream = stream;
    video.srcObject = stream;
    await video.play();
  } catch (err) {
    if (state.generation !== generation) return;
    message.textContent = cameraError(err);
    message.hidden = false;
    $("state").textContent = "no camera";
    return;
  }
  message.hidden = true;
  sendFrames(generation);
}

function randomId() {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function sendFrames(generation) {
  // one frame in flight: the next is captured only when the previous one is answered,
  // so frames the server has not answered are dropped, never queued
  const video = $("camera");
  const grab = document.createElement("canvas");
  const session = randomId();
  const t0 = performance.now();
  let frame = 0;
  while (state.generation === generation && cameraStream) {
    if (!video.videoWidth) {
      await sleep(50);
      continue;
    }
    const scale = Math.min(1, 640 / video.videoWidth);
    grab.width = Math.round(video.videoWidth * scale);
    grab.height = Math.round(video.videoHeight * scale);
    grab.getContext("2d").drawImage(video, 0, 0, grab.width, grab.height);
    const blob = await new Promise((resolve) => grab.toBlob(resolve, "image/jpeg", 0.8));
    const sent = performance.now();
    try {
      const response = await fetch(`/api/frame?session=${session}`, {
        method: "POST", body: blob, headers: { "Content-Type": "image/jpeg" } });
      const result = await response.json();
      if (state.generation !== generation) return;
      if (response.status === 429) {
        await sleep(30);
        continue;
      }
      if (!response.ok) throw new Error(result.error || `HTTP ${response.status}`);
      state.serverLost = false;
      const t = (performance.now() - t0) / 1000;
      frame += 1;
      frameReceived();
      $("rtt").textContent = Math.round(performance.now() - sent);
      $("fps").textContent = receivedFps().toFixed(1);
      $("state").textContent = "live";
      drawOverlay(result, grab.width, grab.height);
      renderFaces($("faces"), result.faces);
      addToTimelines(t, result.faces);
      recordFrame(frame, t, result.faces);
      drawTimelines();
    } catch (err) {
      if (state.generation !== generation) return;
      state.serverLost = true;
      $("state").textContent = `server unreachable: reconnecting… (${err.message})`;
      await sleep(1000);
    }
  }
}

function drawOverlay(result, w, h) {
  const video = $("camera");
  const canvas = $("overlay");
  canvas.width = video.clientWidth;
  canvas.height = video.clientHeight;
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const sx = canvas.width / w;
  const sy = canvas.height / h;
  ctx.font = "14px system-ui, sans-serif";
  ctx.textBaseline = "bottom";
  for (const face of result.faces) {
    const [x, y, bw, bh] = face.box;
    const color = COLORS[face.emotion];
    ctx.strokeStyle = color;
    ctx.lineWidth = 3;
    ctx.strokeRect(x * sx, y * sy, bw * sx, bh * sy);
    const text = `${face.emotion} ${Math.round(face.confidence * 100)}%`;
    const tw = ctx.measureText(text).width + 8;
    const ty = y * sy - 20 >= 0 ? y * sy - 20 : (y + bh) * sy;
    ctx.fillStyle = color;
    ctx.fillRect(x * sx - 1.5, ty, tw, 20);
    ctx.fillStyle = "#000";
    ctx.fillText(text, x * sx + 3, ty + 17);
  }
  canvas.dataset.faces = JSON.stringify(result.faces.map((f) => f.emotion));
}

// ---------------------------------------------------------------- switching
function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function select(value) {
  if (state.recording) stopRecording();  // a recording covers one source
  state.generation += 1;
  const generation = state.generation;
  stopCamera();
  state.lastFrame = -1;
  state.timelines.clear();
  state.received = [];
  $("timelines").replaceChildren();
  drawTimelines();
  $("faces").replaceChildren();
  $("camera-message").hidden = true;
  $("fps").textContent = "–";
  const camera = value === "camera";
  $("stream").hidden = camera;
  $("camera").hidden = !camera;
  $("overlay").hidden = !camera;
  $("rtt-wrap").hidden = !camera;
  if (!camera) {
    const old = $("stream").src;
    if (old.startsWith("blob:")) URL.revokeObjectURL(old);
    $("stream").removeAttribute("src");
  }
  history.replaceState(null, "", `#${camera ? "camera" : `source-${value}`}`);
  if (camera) {
    state.source = { kind: "camera" };
    startCamera(generation);
  } else {
    state.source = { kind: "server", index: Number(value) };
    readStream(Number(value), generation);
    pollStatus(Number(value), generation);
  }
}

async function loadSources() {
  const picker = $("source-picker");
  for (;;) {
    try {
      const response = await fetch("/api/sources", { cache: "no-store" });
      const { sources } = await response.json();
      const options = sources.map((s) => {
        const o = document.createElement("option");
        o.value = String(s.index);
        o.textContent = `${s.name} (${s.kind})`;
        return o;
      });
      const mine = document.createElement("option");
      mine.value = "camera";
      mine.textContent = "My camera";
      picker.replaceChildren(...options, mine);
      return sources;
    } catch (err) {
      $("state").textContent = "server unreachable: reconnecting…";
      await sleep(1000);
    }
  }
}

// ---------------------------------------------------------------- photo upload
async function upload(event) {
  event.preventDefault();
  const file = $("upload-file").files[0];
  const message = $("upload-message");
  const image = $("upload-image");
  if (!file) return;
  message.className = "";
  message.textContent = "Analysing…";
  const body = new FormData();
  body.append("image", file);
  try {
    // one request: the scores and the annotated picture (drawn by the server, so every
    // format works, HEIC and TIFF included, and boxes match the upright photo)
    const response = await fetch("/api/predict?image=1", { method: "POST", body });
    const result = await response.json();
    if (!response.ok) throw new Error(result.error || `HTTP ${response.status}`);
    image.src = `data:image/jpeg;base64,${result.annotated_jpeg}`;
    image.hidden = false;
    message.textContent = `${result.faces.length} face(s) in ${result.width}×${result.height}`;
    renderFaces($("upload-faces"), result.faces);
  } catch (err) {
    message.className = "error";
    message.textContent = `Could not analyse this file: ${err.message}`;
  }
}

document.addEventListener("DOMContentLoaded", async () => {
  $("upload-form").addEventListener("submit", upload);
  $("record").addEventListener("click", toggleRecording);
  legend();
  const sources = await loadSources();
  const picker = $("source-picker");
  picker.addEventListener("change", () => select(picker.value));
  const wanted = location.hash.replace("#", "");
  let initial = sources.length ? "0" : "camera";
  if (wanted === "camera") initial = "camera";
  const m = /^source-(\d+)$/.exec(wanted);
  if (m && Number(m[1]) < sources.length) initial = m[1];
  picker.value = initial;
  select(initial);
});
