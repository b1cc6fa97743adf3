"""The live stream's per-frame step (and that of each visitor's camera): analyse, track and
smooth, hold faces through short detector misses, draw."""

from __future__ import annotations

import time

from ferapp.vision.draw import draw_results
from ferapp.vision.tracking import DEFAULT_SMOOTH_S, FaceTracker


class StreamAnnotator:
    """The live stream's per-frame step: analyse, track and smooth, hold faces through
    short misses, draw. Called by one thread at a time (not thread-safe).

    ``detect_every=k`` runs the detector on every k-th frame only and classifies the faces
    at their last boxes in between (bench/bench_pipeline.py measures speed and recall).
    ``smooth_s``: seconds of scores averaged per face (the drawn label and the results
    returned are the same smoothed ones).
    """

    def __init__(self, pipeline, hold: int = 2, detect_every: int = 1,
                 smooth_s: float = DEFAULT_SMOOTH_S, clock=None):
        if detect_every < 1:
            raise ValueError("detect_every must be at least 1")
        self.pipeline, self.hold, self.detect_every = pipeline, hold, detect_every
        self.tracker = FaceTracker(max_gap=max(15, hold), smooth_s=smooth_s)
        self.clock = clock or time.monotonic
        self.frame_no = 0
        self._faces = None

    def track(self, frame, t: float | None = None) -> list:
        """Analyse one frame; return its smoothed, tracked results (held faces included)."""
        if self.frame_no % self.detect_every == 0 or self._faces is None:
            self._faces = self.pipeline.detect(frame)
        results = self.pipeline.analyze(frame, self._faces)
        results = self.tracker.update(self.frame_no, results,
                                      self.clock() if t is None else t)
        results = results + self.tracker.held(self.frame_no, self.hold)
        self.frame_no += 1
        return results

    def __call__(self, frame):
        results = self.track(frame)
        draw_results(frame, results)
        return frame, results
