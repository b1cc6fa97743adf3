"""Face tracking across frames: one id per person, through short detector misses, with
each face's scores smoothed over a short time window (the stream, the visitors' cameras
and the offline analysis all use it)."""

from __future__ import annotations

from collections import deque
from dataclasses import replace

import numpy as np

from ferapp.labels import EMOTIONS
from ferapp.vision.boxes import iou

# Seconds of scores averaged per face. Chosen with bench/bench_smoothing.py: the shortest
# window that keeps a still face's label steady (label changes per minute) at a small lag.
DEFAULT_SMOOTH_S = 1.0


class FaceTracker:
    """Give a face the same id across frames by greedy box overlap with recent faces, and
    average its scores over the last ``smooth_s`` seconds (0: no smoothing).

    ``update`` takes the frame's time in seconds; without one, frames are taken as
    ``1 / fps`` apart.
    """

    def __init__(self, min_iou: float = 0.3, max_gap: int = 15, smooth_s: float = 0.0,
                 fps: float = 15.0):
        if smooth_s < 0:
            raise ValueError("smooth_s must be at least 0")
        self.min_iou, self.max_gap, self.smooth_s, self.fps = min_iou, max_gap, smooth_s, fps
        self.tracks: dict[int, dict] = {}  # id -> {"box", "seen", "history", "result"}
        self.next_id = 0

    def update(self, frame_no: int, results, t: float | None = None) -> list:
        """Return one FaceResult per result, in order, with its track id and smoothed scores."""
        t = frame_no / self.fps if t is None else t
        self.tracks = {i: tr for i, tr in self.tracks.items()
                       if frame_no - tr["seen"] <= self.max_gap}
        pairs = sorted(((iou(r.box, tr["box"]), k, i) for k, r in enumerate(results)
                        for i, tr in self.tracks.items()), reverse=True)
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
                self.tracks[self.next_id] = {"history": deque()}
                self.next_id += 1
            track = self.tracks[assigned[k]]
            history = track["history"]
            history.append((t, [r.scores[e] for e in EMOTIONS]))
            while history and history[0][0] < t - self.smooth_s - 1e-9:
                history.popleft()
            mean = np.mean([s for _, s in history], axis=0)
            smoothed = replace(r, scores={e: float(v) for e, v in zip(EMOTIONS, mean, strict=True)},
                               face_id=assigned[k])
            track.update(box=r.box, seen=frame_no, result=smoothed)
            out.append(smoothed)
        return out

    def held(self, frame_no: int, hold: int) -> list:
        """Results of tracks missed in ``frame_no`` but seen within the last ``hold`` frames:
        a detector miss for a frame or two keeps the face on screen."""
        return [tr["result"] for i, tr in sorted(self.tracks.items())
                if 0 < frame_no - tr["seen"] <= hold and "result" in tr]
