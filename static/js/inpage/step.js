// The live step of a visitor's camera, in the page: detect (CenterFace) -> crop and align ->
// classify (the flip gate: the mirror image too for faces under flip_below) -> track and
// smooth -> faces held through short misses; the settings come from the server
// (GET /api/inpage), the two networks are handed in (the worker runs them on ONNX Runtime
// Web; tests may hand in others). Every frame is detected: the page has no optical flow.
import { cropFaces, mirrored } from "./crop.js";
import { decode, detectorInput, finish, nms, scaled } from "./centerface.js";
import { grayFromRGBA } from "./imaging.js";
import { FaceTracker, faceResult } from "./track.js";

const now = () => globalThis.performance.now();

export class LiveStep {
  // runDetector({data, H, W}) -> [heat, scales, offsets, landmarks] (Float32Arrays);
  // runClassifier(Float32Array of n faces, n) -> Float32Array of n x labels probabilities
  constructor(config, runDetector, runClassifier) {
    this.config = config;
    this.runDetector = runDetector;
    this.runClassifier = runClassifier;
    this.tracker = new FaceTracker(config.tracking, config.classifier.labels);
    this.frameNo = 0;
  }

  async locate(rgba, w, h) {
    const det = this.config.detector;
    const input = detectorInput(rgba, w, h, det);
    if (!input) return [];
    const [heat, scales, offsets, landmarks] = await this.runDetector(input);
    const found = decode(heat, scales, offsets, landmarks, input.H / 4, input.W / 4, det.threshold)
      .map((d) => scaled(d, 1 / input.scale));
    return finish(nms(found, det.nms_iou, det.nms_contained), w, h, det.min_face);
  }

  async classify(crops) {
    const { size, labels, flip_below: flipBelow } = this.config.classifier;
    const k = labels.length;
    const run = async (faces) => {
      const x = new Float32Array(faces.length * size * size);
      faces.forEach((f, i) => x.set(f, i * size * size));
      const p = await this.runClassifier(x, faces.length);
      return faces.map((_, i) => Array.from(p.subarray(i * k, (i + 1) * k)));
    };
    const p = await run(crops);
    if (flipBelow === null) return p;
    const unsure = p.map((row, i) => [Math.max(...row), i])
      .filter(([top]) => flipBelow >= 1 || top < flipBelow).map(([, i]) => i);
    if (unsure.length) {
      const q = await run(unsure.map((i) => mirrored(crops[i], size)));
      unsure.forEach((i, j) => { p[i] = p[i].map((v, c) => (v + q[j][c]) / 2); });
    }
    return p;
  }

  async results(rgba, w, h, faces) {
    if (!faces.length) return [];
    const { size } = this.config.classifier;
    const { margin, align } = this.config.crop;
    const crops = cropFaces(grayFromRGBA(rgba, w, h), w, h, faces, size, margin, align);
    const scores = await this.classify(crops);
    return faces.map((f, i) => ({ box: f.box, scores: scores[i] }));
  }

  // a photo, alone: its faces at the working width, numbered, untracked and unsmoothed
  async analyzeStill(rgba, w, h) {
    const results = await this.results(rgba, w, h, await this.locate(rgba, w, h));
    const { labels } = this.config.classifier;
    return { faces: results.map((r, i) => faceResult(i, r.box, r.scores, labels)), width: w,
      height: h };
  }

  // one frame (RGBA pixels, w x h) at time t (seconds) -> the /api/frame answer's shape
  async analyze(rgba, w, h, t) {
    const started = now();
    const faces = await this.locate(rgba, w, h);
    const located = now();
    const results = await this.results(rgba, w, h, faces);
    const tracked = this.tracker.update(this.frameNo, results, t);
    const shown = tracked.concat(this.tracker.held(this.frameNo, this.config.tracking.hold));
    this.frameNo += 1;
    return { faces: shown, width: w, height: h,
      ms: { detect: located - started, classify: now() - located } };
  }
}
