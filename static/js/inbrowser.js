// "My camera" analysed in this browser: the server's live step (GET /api/inpage: its
// settings and the URLs of its own ONNX files) runs in a module worker on ONNX Runtime Web,
// one frame in flight; no frame, crop or pixel leaves the page. The camera module falls
// back to the server mode, saying why, when this cannot start.

// a module of one function with a SIMD instruction: what the runtime's build needs
const SIMD_PROBE = Uint8Array.from(atob("AGFzbQEAAAABBQFgAAF7AwIBAAoKAQgAQQD9D/1iCw"), (c) => c.charCodeAt(0));
const INIT_TIMEOUT_MS = 120000;  // a first visit downloads ~15 MB

// why this browser cannot run the in-page mode, or null
export function missingSupport() {
  if (typeof WebAssembly !== "object" || typeof WebAssembly.validate !== "function") {
    return "this browser does not run WebAssembly";
  }
  if (!WebAssembly.validate(SIMD_PROBE)) return "this browser's WebAssembly has no SIMD";
  if (typeof OffscreenCanvas === "undefined" || typeof createImageBitmap !== "function") {
    return "this browser cannot hand camera frames to a worker (no OffscreenCanvas)";
  }
  return null;
}

function nextFrame(video) {
  return new Promise((resolve) => {
    if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(() => resolve());
    else requestAnimationFrame(() => resolve());
  });
}

// the worker, started and loaded with the settings; rejects with the reason it could not
export function startWorker(settings) {
  // the worker resolves URLs against its own script: give it the page's absolute ones
  const abs = (url) => new URL(url, location.href).href;
  const config = structuredClone(settings);
  config.runtime.module = abs(config.runtime.module);
  config.runtime.wasm_base = abs(config.runtime.wasm_base);
  config.detector.url = abs(config.detector.url);
  config.classifier.url = abs(config.classifier.url);
  const worker = new Worker(new URL("./inpage/worker.js", import.meta.url), { type: "module" });
  return new Promise((resolve, reject) => {
    const fail = (why) => {
      clearTimeout(timer);
      worker.terminate();
      reject(new Error(why));
    };
    const timer = setTimeout(() => fail("the models did not load within 2 minutes"), INIT_TIMEOUT_MS);
    worker.onerror = (e) => fail(`the analysis worker did not start (${e.message || "error"})`);
    worker.onmessage = ({ data }) => {
      if (data.type === "ready") {
        clearTimeout(timer);
        resolve(worker);
      } else if (data.type === "error") {
        fail(data.message);
      }
    };
    worker.postMessage({ type: "init", config });
  });
}

// ask the worker to analyse one frame (t: its time in seconds; null: a photo, analysed
// alone, untracked); resolves with its result, rejects with its error
export function analyzeFrame(worker, bitmap, t, id) {
  return new Promise((resolve, reject) => {
    worker.onmessage = ({ data }) => {
      if (data.id !== id) return;
      if (data.type === "result") resolve(data.result);
      else reject(new Error(`${data.stage}: ${data.message}`));
    };
    worker.onerror = (e) => reject(new Error(e.message || "the analysis worker failed"));
    worker.postMessage({ type: "frame", id, bitmap, t }, [bitmap]);
  });
}

// analyse `video` until `running()` says stop; show(result, t, frameNo, ms) per frame and
// problem(message) when a frame fails (the loop goes on)
export async function runInPage(video, config, running, show, problem) {
  const worker = await startWorker(config);
  const t0 = performance.now();
  let id = 0;
  try {
    while (running()) {
      await nextFrame(video);
      if (!running()) break;
      if (!video.videoWidth) continue;
      const scale = Math.min(1, config.frame_width / video.videoWidth);
      const width = Math.round(video.videoWidth * scale);
      const height = Math.round(video.videoHeight * scale);
      const started = performance.now();
      try {
        const bitmap = await createImageBitmap(video, { resizeWidth: width, resizeHeight: height,
          resizeQuality: "medium" });
        id += 1;
        const t = (started - t0) / 1000;
        const result = await analyzeFrame(worker, bitmap, t, id);
        if (running()) show(result, t, id, performance.now() - started);
      } catch (err) {
        if (running()) problem(err.message);
      }
    }
  } finally {
    worker.terminate();
  }
}
