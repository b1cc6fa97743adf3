// Recording: the results of every analysed frame while it runs, then faces.csv (the columns
// of analyze.py) and a per-face summary, as downloads and a table.
import { COLUMNS, EMOTIONS } from "./labels.js";
import { state } from "./state.js";
import { $ } from "./util.js";

export function toggleRecording() {
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

export function recordFrame(frame, t, faces) {
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

export function stopRecording() {
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
