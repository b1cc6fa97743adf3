// A server source: its MJPEG stream, read frame by frame (so the page counts the frames
// this viewer receives), and its results feed (/api/status) for the panel and timelines.
import { addToTimelines, drawTimelines, renderFaces } from "./faces.js";
import { recordFrame } from "./recording.js";
import { frameReceived, receivedFps, state } from "./state.js";
import { $, sleep } from "./util.js";

function indexOf(buf, pattern, from) {
  outer: for (let i = from; i <= buf.length - pattern.length; i++) {
    for (let j = 0; j < pattern.length; j++) if (buf[i + j] !== pattern[j]) continue outer;
    return i;
  }
  return -1;
}

const HEADER_END = new TextEncoder().encode("\r\n\r\n");

export async function readStream(index, generation) {
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

export async function pollStatus(index, generation) {
  while (state.generation === generation) {
    let more = false;  // the server has more frames waiting: ask again at once
    try {
      const response = await fetch(
        `/api/status?source=${index}&after=${state.lastFrame}`, { cache: "no-store" });
      const s = await response.json();
      if (state.generation !== generation) return;
      if (response.status === 401) {
        $("state").textContent = "this server needs its token: reload the page with it";
        await sleep(2000);
        continue;
      }
      if (!response.ok) throw new Error(s.error || `HTTP ${response.status}`);
      state.serverLost = false;
      more = Boolean(s.more);
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
    if (!more) await sleep(500);
  }
}
