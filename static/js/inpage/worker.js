// The in-page analysis worker: ONNX Runtime Web (WebAssembly, one thread) runs the server's
// own CenterFace and expression files; the page posts one camera frame at a time as an
// ImageBitmap and gets the faces back. Messages in: {type: "init", config} and
// {type: "frame", id, bitmap, t}; out: {type: "ready"}, {type: "result", id, result} and
// {type: "error", id, stage, message}. Every error is answered, so the page's loop goes on.
import { LiveStep } from "./step.js";

let step = null;
let canvas = null;

async function fetchModel(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

async function init(config) {
  let ort;
  try {
    ort = await import(config.runtime.module);
    ort.env.wasm.wasmPaths = config.runtime.wasm_base;
    // threads need SharedArrayBuffer: a cross-origin isolated page (COOP + COEP)
    ort.env.wasm.numThreads = self.crossOriginIsolated
      ? Math.max(1, Math.min(config.runtime.max_threads, navigator.hardwareConcurrency || 1)) : 1;
    ort.env.wasm.proxy = false;
    ort.env.logLevel = "error";  // not its notes on unused initialisers
  } catch (err) {
    throw Object.assign(new Error(`the runtime did not load (${err.message})`), { stage: "runtime" });
  }
  const sessions = [];
  for (const net of [config.detector, config.classifier]) {
    let bytes;
    try {
      bytes = await fetchModel(net.url);
    } catch (err) {
      throw Object.assign(new Error(`a model did not download (${err.message})`), { stage: "model" });
    }
    try {
      sessions.push(await ort.InferenceSession.create(bytes, { executionProviders: ["wasm"], logSeverityLevel: 3 }));
    } catch (err) {
      throw Object.assign(new Error(`a model did not load (${err.message || err})`), { stage: "model" });
    }
  }
  const [detector, classifier] = sessions;
  const det = config.detector;
  const cls = config.classifier;
  step = new LiveStep(config, async ({ data, H, W }) => {
    const out = await detector.run({ [det.input]: new ort.Tensor("float32", data, [1, 3, H, W]) });
    return det.outputs.map((name) => out[name].data);
  }, async (x, n) => {
    const out = await classifier.run({ [cls.input]: new ort.Tensor("float32", x, [n, cls.size, cls.size, 1]) });
    return out[classifier.outputNames[0]].data;
  });
}

function pixels(bitmap) {
  if (!canvas) canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  if (canvas.width !== bitmap.width || canvas.height !== bitmap.height) {
    canvas.width = bitmap.width;
    canvas.height = bitmap.height;
  }
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.drawImage(bitmap, 0, 0);
  return ctx.getImageData(0, 0, bitmap.width, bitmap.height).data;
}

self.onmessage = async ({ data: msg }) => {
  if (msg.type === "init") {
    try {
      await init(msg.config);
      self.postMessage({ type: "ready" });
    } catch (err) {
      self.postMessage({ type: "error", stage: err.stage || "init", message: err.message });
    }
    return;
  }
  if (msg.type === "frame") {
    const { bitmap } = msg;
    try {
      const rgba = pixels(bitmap);
      const result = msg.t === null ? await step.analyzeStill(rgba, bitmap.width, bitmap.height)
        : await step.analyze(rgba, bitmap.width, bitmap.height, msg.t);
      self.postMessage({ type: "result", id: msg.id, result });
    } catch (err) {
      self.postMessage({ type: "error", id: msg.id, stage: "analysis", message: String(err.message || err) });
    } finally {
      bitmap.close();
    }
  }
};
