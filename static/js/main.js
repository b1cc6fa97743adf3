// The page: a source picker (the server's sources by index, or the visitor's own camera),
// the annotated stream or camera with live scores, per-face timelines of the last minute,
// recording to CSV, and the photo upload form. Each job is a module of its own.
import { startCamera, stopCamera } from "./camera.js";
import { drawTimelines, legend } from "./faces.js";
import { stopRecording, toggleRecording } from "./recording.js";
import { state } from "./state.js";
import { SITE } from "./site.js";
import { pollStatus, readStream } from "./stream.js";
import { upload } from "./upload.js";
import { $, sleep } from "./util.js";

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
  $("mode-wrap").hidden = !camera;
  $("camera-notice").hidden = true;
  $("mode-message").hidden = true;
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
  if (SITE.static) return [];  // no server: the visitor's camera only
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

document.addEventListener("DOMContentLoaded", async () => {
  $("upload-form").addEventListener("submit", upload);
  $("record").addEventListener("click", toggleRecording);
  legend();
  const sources = await loadSources();
  const picker = $("source-picker");
  picker.addEventListener("change", () => select(picker.value));
  $("camera-mode").addEventListener("change", () => {
    if (state.source && state.source.kind === "camera") select("camera");
  });
  const wanted = location.hash.replace("#", "");
  let initial = sources.length ? "0" : "camera";
  if (wanted === "camera") initial = "camera";
  const m = /^source-(\d+)$/.exec(wanted);
  if (m && Number(m[1]) < sources.length) initial = m[1];
  picker.value = initial;
  select(initial);
});
