// CenterFace as the server runs it (ferapp/vision/detect.py, boxes.py): the frame shrunk to
// the working width, padded to a multiple of 32, the heat map decoded into boxes and eye
// centres, non-maximum suppression, boxes clipped and sorted. Pure functions: the worker
// runs the network and hands its four outputs in.
import { resizeArea, roundHalfEven } from "./imaging.js";

// the detector's input for an RGBA frame: {data (1, 3, H, W) float RGB, H, W, scale, w, h}
// of the shrunk copy, or null when it is too small for the network
export function detectorInput(rgba, w, h, cfg) {
  const scale = cfg.width ? Math.min(1, cfg.width / w, (2 * cfg.width) / h) : 1;
  const sw = Math.max(1, roundHalfEven(w * scale));
  const sh = Math.max(1, roundHalfEven(h * scale));
  if (Math.min(sw, sh) < cfg.min_input) return null;
  const small = scale === 1 ? rgba : resizeArea(rgba, w, h, 4, sw, sh);
  const W = Math.ceil(sw / 32) * 32;
  const H = Math.ceil(sh / 32) * 32;
  const data = new Float32Array(3 * H * W);  // the padding stays black
  for (let y = 0; y < sh; y += 1) {
    for (let x = 0; x < sw; x += 1) {
      const from = (y * sw + x) * 4;
      for (let c = 0; c < 3; c += 1) data[c * H * W + y * W + x] = small[from + c];
    }
  }
  return { data, H, W, scale, w: sw, h: sh };
}

// the four output maps (heat, scale, offset, landmarks; (1, C, h, w) each) -> detections in
// the shrunk frame's pixels: {box: [x, y, w, h], score, eyes: [[x, y], [x, y]]}
export function decode(heat, scales, offsets, landmarks, mh, mw, threshold) {
  const plane = mh * mw;
  const out = [];
  for (let y = 0; y < mh; y += 1) {
    for (let x = 0; x < mw; x += 1) {
      const i = y * mw + x;
      if (!(heat[i] > threshold)) continue;
      const bh = Math.exp(scales[i]) * 4;
      const bw = Math.exp(scales[plane + i]) * 4;
      const cx = (x + offsets[plane + i] + 0.5) * 4;
      const cy = (y + offsets[i] + 0.5) * 4;
      const x0 = cx - bw / 2;
      const y0 = cy - bh / 2;
      const lm = (k) => landmarks[k * plane + i];
      let eyes = [[x0 + lm(1) * bw, y0 + lm(0) * bh], [x0 + lm(3) * bw, y0 + lm(2) * bh]];
      if (eyes[0][0] > eyes[1][0]) eyes = [eyes[1], eyes[0]];
      out.push({ box: [Math.trunc(x0), Math.trunc(y0), Math.trunc(bw), Math.trunc(bh)],
        score: heat[i], eyes });
    }
  }
  return out;
}

// Detection.scaled: boxes (rounded as Python rounds) and eyes times s
export function scaled(d, s) {
  const [x, y, w, h] = d.box;
  return { box: [x, y, w, h].map((v) => roundHalfEven(v * s)), score: d.score,
    eyes: d.eyes && d.eyes.map(([ex, ey]) => [ex * s, ey * s]) };
}

export function iou(a, b) {
  const w = Math.max(0, Math.min(a[0] + a[2], b[0] + b[2]) - Math.max(a[0], b[0]));
  const h = Math.max(0, Math.min(a[1] + a[3], b[1] + b[3]) - Math.max(a[1], b[1]));
  const inter = w * h;
  return inter ? inter / (a[2] * a[3] + b[2] * b[3] - inter) : 0;
}

function overlap(a, b) {
  const w = Math.max(0, Math.min(a[0] + a[2], b[0] + b[2]) - Math.max(a[0], b[0]));
  const h = Math.max(0, Math.min(a[1] + a[3], b[1] + b[3]) - Math.max(a[1], b[1]));
  return w * h;
}

// boxes.nms: the best of overlapping detections (IoU, or the smaller box mostly inside)
export function nms(dets, iouLimit, containedLimit) {
  const order = [...dets].sort((p, q) => (q.score - p.score) || (q.box[2] * q.box[3] - p.box[2] * p.box[3]));
  const kept = [];
  for (const d of order) {
    const small = d.box[2] * d.box[3];
    if (kept.every((k) => iou(d.box, k.box) < iouLimit
        && overlap(d.box, k.box) / Math.max(1, Math.min(small, k.box[2] * k.box[3])) < containedLimit)) {
      kept.push(d);
    }
  }
  return kept;
}

// Detector._finish: clipped to the frame, at least min_face, sorted by (x, y)
export function finish(dets, w, h, minFace) {
  const out = [];
  for (const d of dets) {
    const [x, y, bw, bh] = d.box;
    const x0 = Math.max(0, x);
    const y0 = Math.max(0, y);
    const x1 = Math.min(w, x + bw);
    const y1 = Math.min(h, y + bh);
    if (x1 - x0 < 2 || y1 - y0 < 2) continue;
    const box = [x0, y0, x1 - x0, y1 - y0];
    if (Math.min(box[2], box[3]) >= minFace) out.push({ ...d, box });
  }
  return out.sort((p, q) => (p.box[0] - q.box[0]) || (p.box[1] - q.box[1]));
}
