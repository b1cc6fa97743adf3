// The faces panel (one card of bars per face) and the per-face timelines of the last minute.
import { drawTimeline } from "./draw.js";
import { COLORS, EMOTIONS, TIMELINE_S } from "./labels.js";
import { state } from "./state.js";
import { $ } from "./util.js";

export function renderFaces(container, faces) {
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

export function addToTimelines(t, faces) {
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

export function drawTimelines() {
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
    drawTimeline(fig.querySelector("canvas"), state.timelines.get(id), now);
  }
}

export function legend() {
  const p = $("legend");
  for (const emotion of EMOTIONS) {
    const item = document.createElement("span");
    item.style.setProperty("--c", COLORS[emotion]);
    item.textContent = emotion;
    p.append(item);
  }
}
