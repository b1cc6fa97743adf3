"""Face tracking across frames: one id per person, through short detector misses."""

from __future__ import annotations

from collections import deque

import numpy as np

from ferapp.detect import iou
from labels import EMOTIONS


class FaceTracker:
    """Give a face the same id across frames by greedy box overlap with recent faces."""

    def __init__(self, min_iou: float = 0.3, max_gap: int = 15, smooth: int = 1):
        self.min_iou, self.max_gap, self.smooth = min_iou, max_gap, max(1, smooth)
        self.tracks: dict[int, dict] = {}  # id -> {"box", "seen", "history"}
        self.next_id = 0

    def update(self, frame_no: int, results) -> list[tuple[int, str, float]]:
        """Return (face_id, label, confidence) per result; labels smoothed over the window."""
        self.tracks = {i: t for i, t in self.tracks.items()
                       if frame_no - t["seen"] <= self.max_gap}
        pairs = sorted(((iou(r.box, t["box"]), k, i) for k, r in enumerate(results)
                        for i, t in self.tracks.items()), reverse=True)
        assigned: dict[int, int] = {}
        used = set()
        for overlap, k, i in pairs:
            if overlap < self.min_iou:
                break
            if k not in assigned and i not in used:
                assigned[k] = i
                used.add(i)
        out = []
        for k, r in enumerate(results):
            if k not in assigned:
                assigned[k] = self.next_id
                self.tracks[self.next_id] = {"history": deque(maxlen=self.smooth)}
                self.next_id += 1
            track = self.tracks[assigned[k]]
            track.update(box=r.box, seen=frame_no, result=r)
            track["history"].append([r.scores[e] for e in EMOTIONS])
            mean = np.mean(track["history"], axis=0)
            best = int(mean.argmax())
            out.append((assigned[k], EMOTIONS[best], float(mean[best])))
        return out

    def held(self, frame_no: int, hold: int) -> list[tuple[int, object]]:
        """Tracks missed in ``frame_no`` but seen within the last ``hold`` frames, with
        their last result: a detector miss for a frame or two keeps the face on screen."""
        return [(i, t["result"]) for i, t in sorted(self.tracks.items())
                if 0 < frame_no - t["seen"] <= hold and "result" in t]


class StreamAnnotator:
    """The live stream's per-frame step: analyse, track, hold faces through short misses,
    draw. Called by the camera thread only (not thread-safe).

    ``detect_every=k`` runs the detector on every k-th frame only and classifies the faces
    at their last boxes in between (bench/bench_pipeline.py measures speed and recall).
    """

    def __init__(self, pipeline, hold: int = 2, detect_every: int = 1):
        if detect_every < 1:
            raise ValueError("detect_every must be at least 1")
        self.pipeline, self.hold, self.detect_every = pipeline, hold, detect_every
        self.tracker = FaceTracker(max_gap=max(15, hold))
        self.frame_no = 0
        self._faces = None

    def __call__(self, frame):
        from pipeline import draw_results

        if self.frame_no % self.detect_every == 0 or self._faces is None:
            self._faces = self.pipeline.detect(frame)
        results = self.pipeline.analyze(frame, self._faces)
        self.tracker.update(self.frame_no, results)
        results = results + [r for _, r in self.tracker.held(self.frame_no, self.hold)]
        self.frame_no += 1
        draw_results(frame, results)
        return frame, results
