// Pixel operations of the live step, as OpenCV does them on the server: grey conversion
// (cv2.COLOR_BGR2GRAY), area-averaging shrink (cv2.INTER_AREA) and the bilinear affine warp
// with replicated borders (cv2.warpAffine). Pure functions over typed arrays: no DOM, so
// Node's test runner imports them too.

// Python's round(): halves to even (Detection.scaled and the crop sizes use it)
export function roundHalfEven(v) {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

// RGBA (canvas ImageData) -> grey, OpenCV's fixed-point weights (R 9798, G 19235, B 3735 / 2^15)
export function grayFromRGBA(rgba, w, h) {
  const out = new Uint8Array(w * h);
  for (let i = 0, j = 0; i < out.length; i += 1, j += 4) {
    out[i] = (rgba[j] * 9798 + rgba[j + 1] * 19235 + rgba[j + 2] * 3735 + 16384) >> 15;
  }
  return out;
}

// for each destination index, the source indices it covers and their weights (sum 1)
function areaTable(srcLen, dstLen) {
  const scale = srcLen / dstLen;
  const table = [];
  for (let d = 0; d < dstLen; d += 1) {
    const f0 = d * scale;
    const f1 = Math.min(srcLen, f0 + scale);
    const entries = [];
    for (let s = Math.floor(f0); s < f1; s += 1) {
      const weight = (Math.min(f1, s + 1) - Math.max(f0, s)) / scale;
      if (weight > 1e-9) entries.push([s, weight]);
    }
    table.push(entries);
  }
  return table;
}

// shrink a (h, w, channels) uint8 image to (dh, dw) by area averaging (cv2.INTER_AREA):
// rows first, then columns, in floating point, rounded once
export function resizeArea(src, w, h, channels, dw, dh) {
  const xs = areaTable(w, dw);
  const ys = areaTable(h, dh);
  const rows = new Float32Array(h * dw * channels);
  for (let y = 0; y < h; y += 1) {
    for (let x = 0; x < dw; x += 1) {
      const to = (y * dw + x) * channels;
      for (const [s, weight] of xs[x]) {
        const from = (y * w + s) * channels;
        for (let c = 0; c < channels; c += 1) rows[to + c] += src[from + c] * weight;
      }
    }
  }
  const line = dw * channels;
  const acc = new Float32Array(dh * line);
  for (let y = 0; y < dh; y += 1) {
    for (const [s, weight] of ys[y]) {
      for (let i = 0; i < line; i += 1) acc[y * line + i] += rows[s * line + i] * weight;
    }
  }
  const out = new Uint8Array(acc.length);
  for (let i = 0; i < acc.length; i += 1) out[i] = Math.min(255, Math.max(0, Math.round(acc[i])));
  return out;
}

// cv2.getRotationMatrix2D: rotate by `angle` degrees (counter-clockwise on screen) and scale
// about (cx, cy); a 2x3 matrix from source to destination
export function rotationMatrix(cx, cy, angle, scale) {
  const a = (angle * Math.PI) / 180;
  const alpha = scale * Math.cos(a);
  const beta = scale * Math.sin(a);
  return [alpha, beta, (1 - alpha) * cx - beta * cy, -beta, alpha, beta * cx + (1 - alpha) * cy];
}

// cv2.warpAffine(src, m, (size, size), INTER_LINEAR, BORDER_REPLICATE) of a grey image, in
// OpenCV's fixed point: source positions in 1/1024 pixel rounded to 1/32, weights in 1/1024
export function warpAffine(src, w, h, m, size) {
  const [a, b, c, d, e, f] = m;
  const det = a * e - b * d;
  const inv = det ? 1 / det : 0;
  const ia = e * inv;
  const ib = -b * inv;
  const id = -d * inv;
  const ie = a * inv;
  const ic = -ia * c - ib * f;
  const iff = -id * c - ie * f;
  const out = new Uint8Array(size * size);
  const at = (x, y) => src[Math.min(h - 1, Math.max(0, y)) * w + Math.min(w - 1, Math.max(0, x))];
  for (let y = 0; y < size; y += 1) {
    const x0 = roundHalfEven((ib * y + ic) * 1024) + 16;
    const y0 = roundHalfEven((ie * y + iff) * 1024) + 16;
    for (let x = 0; x < size; x += 1) {
      const X = (x0 + roundHalfEven(ia * x * 1024)) >> 5;
      const Y = (y0 + roundHalfEven(id * x * 1024)) >> 5;
      const sx = X >> 5;
      const sy = Y >> 5;
      const fx = X & 31;
      const fy = Y & 31;
      const v = at(sx, sy) * (32 - fx) * (32 - fy) + at(sx + 1, sy) * fx * (32 - fy)
        + at(sx, sy + 1) * (32 - fx) * fy + at(sx + 1, sy + 1) * fx * fy;
      out[y * size + x] = (v + 512) >> 10;
    }
  }
  return out;
}

// a w x h window at (x0, y0) of a grey image
export function crop(src, w, x0, y0, cw, ch) {
  const out = new Uint8Array(cw * ch);
  for (let y = 0; y < ch; y += 1) out.set(src.subarray((y0 + y) * w + x0, (y0 + y) * w + x0 + cw), y * cw);
  return out;
}
