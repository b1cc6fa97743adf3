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

async function pollStatus() {
  try {
    const response = await fetch("/api/status", { cache: "no-store" });
    if (response.ok) {
      const s = await response.json();
      document.getElementById("fps").textContent = s.fps.toFixed(1);
      document.getElementById("state").textContent = s.status;
      document.getElementById("source").textContent = s.source;
      renderFaces(document.getElementById("faces"), s.faces);
    }
  } catch (err) {
    document.getElementById("state").textContent = "server unreachable";
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
    const response = await fetch("/api/predict", { method: "POST", body });
    const result = await response.json();
    if (!response.ok) throw new Error(result.error || `HTTP ${response.status}`);
    const annotated = await fetch("/api/predict?annotate=1", { method: "POST", body });
    if (!annotated.ok) throw new Error(`HTTP ${annotated.status}`);
    if (image.src) URL.revokeObjectURL(image.src);
    image.src = URL.createObjectURL(await annotated.blob());
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
  pollStatus();
});
