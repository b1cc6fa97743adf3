// ferapp/vision/crop.py in the page: each face cut out of the grey frame as an upright
// size x size square (margin x the box's larger side about its centre, rotated so the eyes
// are level; a large face shrunk by area averaging first).
import { crop, resizeArea, rotationMatrix, roundHalfEven, warpAffine } from "./imaging.js";

export function cropFaces(gray, W, H, faces, size, margin, align) {
  return faces.map((face) => {
    const [x, y, w, h] = face.box;
    const cx = x + w / 2;
    const cy = y + h / 2;
    const side = Math.max(w, h) * margin;
    let angle = 0;
    if (align && face.eyes) {
      const [[lx, ly], [rx, ry]] = face.eyes;
      angle = (Math.atan2(ry - ly, rx - lx) * 180) / Math.PI;
    }
    const half = side * 0.75;  // covers the rotated square
    const x0 = Math.trunc(Math.max(0, cx - half));
    const y0 = Math.trunc(Math.max(0, cy - half));
    const x1 = Math.trunc(Math.min(W, cx + half + 1));
    const y1 = Math.trunc(Math.min(H, cy + half + 1));
    let region = gray;
    let rw = W;
    let rh = H;
    let ox = 0;
    let oy = 0;
    let pre = 1;
    if (x1 - x0 >= 2 && y1 - y0 >= 2 && side > 2 * size) {
      pre = (2 * size) / side;
      rw = Math.max(1, roundHalfEven((x1 - x0) * pre));
      rh = Math.max(1, roundHalfEven((y1 - y0) * pre));
      region = resizeArea(crop(gray, W, x0, y0, x1 - x0, y1 - y0), x1 - x0, y1 - y0, 1, rw, rh);
      ox = x0;
      oy = y0;
    }
    const rcx = (cx - ox) * pre;
    const rcy = (cy - oy) * pre;
    const m = rotationMatrix(rcx, rcy, angle, size / (side * pre));
    m[2] += size / 2 - rcx;
    m[5] += size / 2 - rcy;
    return warpAffine(region, rw, rh, m, size);
  });
}

// the mirror image of a size x size crop (the flip gate's second view)
export function mirrored(face, size) {
  const out = new Uint8Array(face.length);
  for (let y = 0; y < size; y += 1) {
    for (let x = 0; x < size; x += 1) out[y * size + x] = face[y * size + size - 1 - x];
  }
  return out;
}
