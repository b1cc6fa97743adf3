"""Face boxes: a detection (box, score, eye centres) and the geometry the detectors and the
tracker share (clipping, overlap, non-maximum suppression)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Detection:
    """A face box (x, y, w, h) in frame pixels, a score in [0, 1], and the eye centres
    (image-left eye first) when the detector gives landmarks."""

    box: tuple[int, int, int, int]
    score: float = 1.0
    eyes: tuple[tuple[float, float], tuple[float, float]] | None = None

    def scaled(self, s: float, dx: float = 0.0, dy: float = 0.0) -> Detection:
        x, y, w, h = self.box
        box = (int(round(x * s + dx)), int(round(y * s + dy)), int(round(w * s)),
               int(round(h * s)))
        eyes = None if self.eyes is None else tuple(
            (ex * s + dx, ey * s + dy) for ex, ey in self.eyes)
        return Detection(box, self.score, eyes)


def clip_box(box, width: int, height: int):
    """Clip (x, y, w, h) to the image; None when nothing of it is inside."""
    x, y, w, h = box
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(width, x + w), min(height, y + h)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    return (x0, y0, x1 - x0, y1 - y0)


def iou(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    h = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = w * h
    return inter / float(aw * ah + bw * bh - inter) if inter else 0.0


NMS_IOU = 0.4  # a detection overlapping a better one by this IoU is dropped ...
NMS_CONTAINED = 0.7  # ... or when this share of the smaller box lies in the other


def nms(dets: list[Detection], threshold: float = NMS_IOU) -> list[Detection]:
    """Keep the best-scoring of overlapping detections (IoU or containment above threshold)."""
    kept: list[Detection] = []
    for d in sorted(dets, key=lambda d: (-d.score, -d.box[2] * d.box[3])):
        small = d.box[2] * d.box[3]
        if all(iou(d.box, k.box) < threshold and
               _overlap(d.box, k.box) / max(1, min(small, k.box[2] * k.box[3])) < NMS_CONTAINED
               for k in kept):
            kept.append(d)
    return kept


def _overlap(a, b) -> float:
    w = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    h = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return w * h
