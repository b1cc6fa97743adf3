// "My camera": the visitor's own camera, analysed in this browser (inbrowser.js: nothing of
// the picture leaves the page) or on the server (one frame at a time to /api/frame), the
// boxes drawn over the video. The in-page mode is the default; the server mode is the
// visitor's choice, or taken when the in-page mode cannot start, with the reason shown.
import { drawOverlay } from "./draw.js";
import { addToTimelines, drawTimelines, renderFaces } from "./faces.js";
import { missingSupport, runInPage } from "./inbrowser.js";
import { recordFrame } from "./recording.js";
import { SITE } from "./site.js";
import { frameReceived, receivedFps, state } from "./state.js";
import { $, sleep } from "./util.js";

let cameraStream = null;
const NOTICE = {
  browser: "Your camera is analysed in this browser: no picture leaves this device.",
  server: "Your camera is analysed on the server: each frame is sent to it and not kept.",
};

export async function inPageSettings() {
  const response = await fetch(SITE.settings, { cache: "no-cache" });
  if (!response.ok) throw new Error(`the server did not give the in-page settings (HTTP ${response.status})`);
  return response.json();
}

function showMode(mode, why) {
  $("mode").textContent = mode === "browser" ? "analysed in this browser" : "analysed on the server";
  $("camera-notice").textContent = NOTICE[mode];
  $("camera-notice").hidden = false;
  $("camera-mode").value = mode;
  $("rtt-label").textContent = mode === "browser" ? "analysis" : "round trip";
  const info = $("mode-message");
  info.textContent = why ? `In-browser analysis is not available: ${why}. The server analyses the camera instead.` : "";
  info.hidden = !why;
}

// a page with no server behind it, whose browser cannot run the models
function noServer(why) {
  $("camera-message").textContent = `This browser cannot analyse the camera: ${why}. ` +
    "This page has no server to analyse it instead; try a recent Chrome, Edge or Firefox.";
  $("camera-message").hidden = false;
  $("state").textContent = "not analysed";
}

// one analysed frame on the page, whichever mode analysed it; the body's data attributes
// count the frames and time the first one from the camera's start (bench_browser.py)
function show(result, t, frame, ms) {
  state.serverLost = false;
  frameReceived();
  const marks = document.body.dataset;
  marks.analysed = Number(marks.analysed || 0) + 1;
  if (!marks.firstFrameMs) marks.firstFrameMs = Math.round(performance.now() - state.cameraStarted);
  $("rtt").textContent = Math.round(ms);
  $("rtt-detail").textContent = result.ms && typeof result.ms === "object"
    ? ` (detect ${Math.round(result.ms.detect)}, classify ${Math.round(result.ms.classify)})` : "";
  $("fps").textContent = receivedFps().toFixed(1);
  $("state").textContent = "live";
  drawOverlay(result, result.width, result.height);
  renderFaces($("faces"), result.faces);
  addToTimelines(t, result.faces);
  recordFrame(frame, t, result.faces);
  drawTimelines();
}

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

export function stopCamera() {
  if (cameraStream) cameraStream.getTracks().forEach((t) => t.stop());
  cameraStream = null;
  $("camera").srcObject = null;
}

export async function startCamera(generation) {
  const video = $("camera");
  const message = $("camera-message");
  $("source").textContent = "my camera";
  $("rtt-wrap").hidden = false;
  $("mode-wrap").hidden = false;
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
    state.cameraStarted = performance.now();
    delete document.body.dataset.firstFrameMs;
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
  cameraStream.getVideoTracks().forEach((track) => track.addEventListener("ended", () => {
    if (state.generation !== generation) return;
    message.textContent = "The camera stopped (unplugged or taken by another application). " +
      "Choose “My camera” again when it is back.";
    message.hidden = false;
    $("state").textContent = "camera stopped";
    stopCamera();
  }));
  let settings = { available: false, reason: "the server did not answer", frame_width: 640 };
  try {
    settings = await inPageSettings();
  } catch (err) {
    settings.reason = err.message;
  }
  if (state.generation !== generation) return;
  const running = () => state.generation === generation && cameraStream !== null;
  if ($("camera-mode").value === "browser") {
    const why = settings.available ? missingSupport() : settings.reason;
    if (!why) {
      showMode("browser");
      $("state").textContent = "loading the models…";
      try {
        await runInPage(video, settings, running, show, (problem) => {
          $("state").textContent = `a frame was not analysed: ${problem}`;
        });
        return;
      } catch (err) {
        if (!running()) return;
        if (SITE.static) return noServer(err.message);
        showMode("server", err.message);
      }
    } else if (SITE.static) {
      return noServer(why);
    } else {
      showMode("server", why);
    }
  } else {
    showMode("server");
  }
  sendFrames(generation, settings.frame_width, running);
}

function randomId() {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function sendFrames(generation, frameWidth, running) {
  // one frame in flight: the next is captured only when the previous one is answered,
  // so frames the server has not answered are dropped, never queued
  const video = $("camera");
  const grab = document.createElement("canvas");
  const session = randomId();
  const t0 = performance.now();
  let frame = 0;
  while (running()) {
    if (!video.videoWidth) {
      await sleep(50);
      continue;
    }
    const scale = Math.min(1, frameWidth / video.videoWidth);
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
      frame += 1;
      show({ ...result, width: grab.width, height: grab.height }, (sent - t0) / 1000, frame,
        performance.now() - sent);
    } catch (err) {
      if (state.generation !== generation) return;
      state.serverLost = true;
      $("state").textContent = `server unreachable: reconnecting… (${err.message})`;
      await sleep(1000);
    }
  }
}
