// What the page knows now; the modules read and change it.
export const state = {
  source: null,        // {kind: "server", index} or {kind: "camera"}
  generation: 0,       // bumped on every switch: loops of an old source stop
  lastFrame: -1,       // the newest server frame whose results were read
  timelines: new Map(), // face id -> [{t, scores}] (t in seconds)
  recording: null,     // {rows: [], t0, frames} while recording
  received: [],        // arrival times of the last frames (performance.now())
  serverLost: false,
  cameraStarted: 0,    // performance.now() when the visitor's camera started
};

// ---------------------------------------------------------------- received frame rate
export function frameReceived() {
  const now = performance.now();
  state.received.push(now);
  while (state.received.length && state.received[0] < now - 2000) state.received.shift();
}

export function receivedFps() {
  const r = state.received;
  const now = performance.now();
  while (r.length && r[0] < now - 2000) r.shift();
  if (r.length < 2) return 0;
  return (r.length - 1) / (Math.max(now, r.at(-1)) - r[0]) * 1000;
}
