"use strict";
// Live per-face scores (polled from /api/status) and the photo upload form.
const EMOTIONS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"];

function renderFaces(container, faces) {
  container.replaceChildren();
  if (!faces.length) {
    const p = document.createElement("p");
    p.className = "empty";
    p.textContent = "No face found.";
    container.append(p);
    return;
  }
  const template = document.getElementById("face-template");
  faces.forEach((face, i) => {
    const node = template.content.firstElementChild.cloneNode(true);
    node.querySelector("h3").textContent =
      `Face ${i + 1}: ${face.emotion} (${Math.round(face.confidence * 100)}%)`;
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

let serverLost = false;

function reconnectStream() {
  // after a server restart or a network drop the MJPEG connection is dead: open a new one
  const stream = document.getElementById("stream");
  const url = new URL(stream.src, location.href);
  url.searchParams.set("t", Date.now());
  stream.src = url.pathname + url.search;
}

async function pollStatus() {
  try {
    const response = await fetch("/api/status", { cache: "no-store" });
    if (serverLost && response.ok) {
      serverLost = false;
      reconnectStream();
    }
    if (response.ok) {
      const s = await response.json();
      document.getElementById("fps").textContent = s.fps.toFixed(1);
      document.getElementById("state").textContent = s.status;
      document.getElementById("source").textContent = s.source;
      renderFaces(document.getElementById("faces"), s.faces);
    }
  } catch (err) {
    serverLost = true;
    document.getElementById("state").textContent = "server unreachable: reconnecting…";
  }
  setTimeout(pollStatus, 500);
}

async function upload(event) {
  event.preventDefault();
  const file = document.getElementById("upload-file").files[0];
  const message = document.getElementById("upload-message");
  const image = document.getElementById("upload-image");
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
    renderFaces(document.getElementById("upload-faces"), result.faces);
  } catch (err) {
    message.className = "error";
    message.textContent = `Could not analyse this file: ${err.message}`;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("upload-form").addEventListener("submit", upload);
  document.getElementById("stream").addEventListener("error", () => {
    serverLost = true;  // pollStatus reopens the stream once the server answers
  });
  pollStatus();
});
