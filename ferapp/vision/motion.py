"""Detect less, keep every face: between detector passes each face's box is carried forward
by the optical flow of a grid of points inside it (median flow: forward-backward checked
Lucas-Kanade, the median shift and scale of the points that agree)."""

from __future__ import annotations

import itertools

import cv2
import numpy as np

from ferapp.vision.boxes import Detection, clip_box, iou

# Detector passes: every DETECT_EVERY-th frame, and at once where the locator is unsure.
# Chosen with bench/bench_motion.py on the dev videos and a 4-face clip: the largest k that
# keeps >= 99 % of the faces the every-frame detector finds on every clip (k = 3 keeps
# 99.7 % of all faces but 95.7 % on the walking crowd, whose faces sit at the detector's
# threshold); with two stages the detector is not the slower stage at k = 2.
DEFAULT_DETECT_EVERY = 2
_LK = {"winSize": (11, 11), "maxLevel": 2,
       "criteria": (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 10, 0.03)}


class FaceLocator:
    """Where the faces of a stream are, frame after frame (one thread calls it).

    ``detect`` (frame -> Detections) runs on every ``every``-th frame and whenever the
    locator is unsure: on any frame where a carried face is lost (fewer than ``min_agree``
    of its points pass the forward-backward check, its scale jumps by more than
    ``max_scale``, or it leaves the frame), and on every frame until ``calm_passes``
    detector passes in a row found the same faces the frame before had (a face appeared or
    vanished, or the detector flickers on a crowd: then it runs on every frame). In
    between, each face's box and eyes move with its points. ``every=1`` detects on every
    frame (no flow at all). The flow runs on a gray copy ``width`` pixels wide.
    """

    def __init__(self, detect, every: int = DEFAULT_DETECT_EVERY, width: int = 320,
                 grid: int = 6, min_agree: int = 8, max_fb: float = 1.0,
                 max_scale: float = 1.25, calm_passes: int = 2):
        if every < 1:
            raise ValueError("detect_every must be at least 1")
        self.detect, self.every, self.width, self.grid = detect, every, width, grid
        self.min_agree, self.max_fb, self.max_scale = min_agree, max_fb, max_scale
        self.calm_passes = calm_passes
        self.frame_no = 0
        self.detections = 0  # detector passes so far (the bench reports the share)
        self._faces: list[Detection] = []
        self._prev = None  # (small gray frame, its scale)
        self._since = 0  # frames since the last detector pass
        self._calm = 0  # detector passes in a row that found the faces the last frame had

    def __call__(self, frame: np.ndarray) -> list[Detection]:
        if self.every == 1:
            self.detections += 1
            self.frame_no += 1
            return list(self.detect(frame))
        small, scale = self._small(frame)
        faces = None
        if self._since < self.every - 1 and self._calm >= self.calm_passes:
            faces = self._carry(self._prev[0], small, scale, frame.shape) if self._faces else []
        if faces is None:
            faces = list(self.detect(frame))
            self.detections += 1
            agree = _same_faces(faces, self._faces) and self._prev is not None
            self._calm = self._calm + 1 if agree else 0
            self._since = 0
        else:
            self._since += 1
        self._faces, self._prev = faces, (small, scale)
        self.frame_no += 1
        return faces

    def _small(self, frame):
        gray = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        scale = min(1.0, self.width / gray.shape[1])
        if scale < 1.0:
            gray = cv2.resize(gray, (self.width, max(1, round(gray.shape[0] * scale))),
                              interpolation=cv2.INTER_AREA)
        return gray, scale

    def _carry(self, prev, small, scale, shape) -> list[Detection] | None:
        """Every face moved to this frame, or None when one of them is lost."""
        if prev.shape != small.shape:
            return None  # the source changed size: detect afresh
        grids = [self._grid(f.box, scale) for f in self._faces]
        pts = np.concatenate(grids).astype(np.float32).reshape(-1, 1, 2)
        try:
            nxt, st, _ = cv2.calcOpticalFlowPyrLK(prev, small, pts, None, **_LK)
            back, st_back, _ = cv2.calcOpticalFlowPyrLK(small, prev, nxt, None, **_LK)
        except cv2.error:  # a frame too small for the pyramid: let the detector say
            return None
        fb = np.linalg.norm((back - pts).reshape(-1, 2), axis=1)
        ok = (st.ravel() == 1) & (st_back.ravel() == 1) & (fb < self.max_fb)
        out, start = [], 0
        for face, g in zip(self._faces, grids, strict=True):
            sl = slice(start, start + len(g))
            start += len(g)
            moved = self._moved(face, pts[sl, 0][ok[sl]], nxt[sl, 0][ok[sl]], fb[sl][ok[sl]],
                                scale, shape)
            if moved is None:
                return None
            out.append(moved)
        return out

    def _grid(self, box, scale) -> np.ndarray:
        """A grid of points over the middle of the face (the box shrunk by a sixth a side:
        the face, not the background around it), in the small frame's pixels."""
        x, y, w, h = (v * scale for v in box)
        xs = np.linspace(x + w / 6, x + w * 5 / 6, self.grid)
        ys = np.linspace(y + h / 6, y + h * 5 / 6, self.grid)
        return np.stack(np.meshgrid(xs, ys), -1).reshape(-1, 2)

    def _moved(self, face: Detection, a, b, fb, scale, shape) -> Detection | None:
        if len(a) < self.min_agree:
            return None
        keep = fb <= np.median(fb)  # the better half (median flow)
        a, b = a[keep], b[keep]
        if len(a) < 2:
            return None
        pairs = np.array(list(itertools.combinations(range(len(a)), 2)))
        da = np.linalg.norm(a[pairs[:, 0]] - a[pairs[:, 1]], axis=1)
        db = np.linalg.norm(b[pairs[:, 0]] - b[pairs[:, 1]], axis=1)
        good = da > 1e-3
        s = float(np.median(db[good] / da[good])) if good.any() else 1.0
        if not 1 / self.max_scale <= s <= self.max_scale:
            return None
        dx, dy = np.median(b - a, axis=0) / scale
        x, y, w, h = face.box
        cx, cy = x + w / 2 + dx, y + h / 2 + dy
        nw, nh = w * s, h * s
        box = (int(round(cx - nw / 2)), int(round(cy - nh / 2)), int(round(nw)), int(round(nh)))
        clipped = clip_box(box, shape[1], shape[0])
        if clipped is None or clipped[2] * clipped[3] < 0.5 * box[2] * box[3]:
            return None  # leaving the frame: let the detector say
        eyes = None if face.eyes is None else tuple(
            (cx + (ex - x - w / 2) * s, cy + (ey - y - h / 2) * s) for ex, ey in face.eyes)
        return Detection(box, face.score, eyes)


def _same_faces(found, before, min_iou: float = 0.5) -> bool:
    """True when ``found`` and ``before`` are the same faces: as many, each found one
    overlapping its own one of before."""
    if len(found) != len(before):
        return False
    left = list(before)
    for f in found:
        best = max(left, key=lambda b: iou(f.box, b.box), default=None)
        if best is None or iou(f.box, best.box) < min_iou:
            return False
        left.remove(best)
    return True
