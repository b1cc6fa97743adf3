"""The live stream's per-frame step (and that of each visitor's camera), in two stages:
``locate`` (detect, or carry the boxes forward by motion) and ``finish`` (classify, track
and smooth, hold faces through short detector misses, draw). A VideoCamera runs the two on
two threads; calling the annotator runs them in turn."""

from __future__ import annotations

import time

from ferapp.vision.draw import draw_results
from ferapp.vision.motion import DEFAULT_DETECT_EVERY, FaceLocator
from ferapp.vision.tracking import DEFAULT_SMOOTH_S, FaceTracker


class StreamAnnotator:
    """The live stream's per-frame step. ``locate`` is called by one thread at a time and
    ``finish`` by one thread at a time, frames in the same order (the two may overlap).

    ``detect_every=k`` runs the detector on every k-th frame (and whenever a face's motion
    is unsure) and carries each face's box forward by optical flow in between
    (``FaceLocator``; bench/bench_motion.py measures the faces kept). ``smooth_s``: seconds
    of scores averaged per face (the drawn label and the results returned are the same
    smoothed ones).
    """

    def __init__(self, pipeline, hold: int = 2, detect_every: int = DEFAULT_DETECT_EVERY,
                 smooth_s: float = DEFAULT_SMOOTH_S, clock=None):
        self.pipeline, self.hold = pipeline, hold
        self.locator = FaceLocator(pipeline.detect, every=detect_every)
        self.tracker = FaceTracker(max_gap=max(15, hold), smooth_s=smooth_s)
        self.clock = clock or time.monotonic
        self.frame_no = 0

    @property
    def detect_every(self) -> int:
        return self.locator.every

    def locate(self, frame) -> list:
        """Stage one: the faces' boxes in this frame."""
        return self.locator(frame)

    def track(self, frame, t: float | None = None, faces=None) -> list:
        """Classify ``faces`` (located here when not given); return the frame's smoothed,
        tracked results, held faces included."""
        faces = self.locate(frame) if faces is None else faces
        results = self.pipeline.analyze(frame, faces)
        results = self.tracker.update(self.frame_no, results,
                                      self.clock() if t is None else t)
        results = results + self.tracker.held(self.frame_no, self.hold)
        self.frame_no += 1
        return results

    def finish(self, frame, faces):
        """Stage two: classify, track, draw; return (annotated frame, results)."""
        results = self.track(frame, faces=faces)
        draw_results(frame, results)
        return frame, results

    def __call__(self, frame):
        return self.finish(frame, self.locate(frame))
