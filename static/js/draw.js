// Drawing on canvases: a face's timeline and the boxes over the visitor's camera (as the
// server draws them on the stream).
import { COLORS, EMOTIONS, TIMELINE_S } from "./labels.js";
import { $ } from "./util.js";

export function drawTimeline(canvas, points, now) {
  const ctx = canvas.getContext("2d");
  const { width: w, height: h } = canvas;
  ctx.clearRect(0, 0, w, h);
  ctx.strokeStyle = "#e2e5ea";
  ctx.lineWidth = 1;
  for (const f of [0, 0.5, 1]) {
    ctx.beginPath();
    ctx.moveTo(0, h - f * (h - 4) - 2);
    ctx.lineTo(w, h - f * (h - 4) - 2);
    ctx.stroke();
  }
  const x = (t) => w - ((now - t) / TIMELINE_S) * w;
  for (const emotion of EMOTIONS) {
    ctx.strokeStyle = COLORS[emotion];
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    points.forEach((p, i) => {
      const y = h - p.scores[emotion] * (h - 4) - 2;
      if (i === 0 || p.t - points[i - 1].t > 2) ctx.moveTo(x(p.t), y);
      else ctx.lineTo(x(p.t), y);
    });
    ctx.stroke();
  }
}

export function drawOverlay(result, w, h) {
  const video = $("camera");
  const canvas = $("overlay");
  canvas.width = video.clientWidth;
  canvas.height = video.clientHeight;
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  drawBoxes(ctx, result.faces, canvas.width / w, canvas.height / h);
  canvas.dataset.faces = JSON.stringify(result.faces.map((f) => f.emotion));
}

// each face's box and label, in the emotion's colour, on a canvas scaled by (sx, sy)
export function drawBoxes(ctx, faces, sx, sy) {
  ctx.font = "14px system-ui, sans-serif";
  ctx.textBaseline = "bottom";
  for (const face of faces) {
    const [x, y, bw, bh] = face.box;
    const color = COLORS[face.emotion];
    ctx.strokeStyle = color;
    ctx.lineWidth = 3;
    ctx.strokeRect(x * sx, y * sy, bw * sx, bh * sy);
    const text = `${face.emotion} ${Math.round(face.confidence * 100)}%`;
    const tw = ctx.measureText(text).width + 8;
    const ty = y * sy - 20 >= 0 ? y * sy - 20 : (y + bh) * sy;
    ctx.fillStyle = color;
    ctx.fillRect(x * sx - 1.5, ty, tw, 20);
    ctx.fillStyle = "#000";
    ctx.fillText(text, x * sx + 3, ty + 17);
  }
}
