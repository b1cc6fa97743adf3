// "My camera": the visitor's own camera, one frame at a time to /api/frame, the boxes drawn
// over the video.
import { drawOverlay } from "./draw.js";
import { addToTimelines, drawTimelines, renderFaces } from "./faces.js";
import { recordFrame } from "./recording.js";
import { frameReceived, receivedFps, state } from "./state.js";
import { $, sleep } from "./util.js";

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
