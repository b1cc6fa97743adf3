"""The one detect -> crop -> classify -> draw path, shared by the stream, the API and the
offline analysis; ``LockedPipeline`` shares one pipeline between threads."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import cv2
import numpy as np

from ferapp.labels import EMOTIONS
from ferapp.vision.crop import crop_faces
from ferapp.vision.detect import make_detector
from ferapp.vision.draw import draw_results


@dataclass(frozen=True)
class FaceResult:
    """One face: its box in frame pixels (x, y, w, h) and the probability of each emotion."""

    box: tuple[int, int, int, int]
    scores: dict[str, float]
    face_id: int | None = None  # set by a FaceTracker: the same person keeps the same id

    @property
    def emotion(self) -> str:
        return max(self.scores, key=self.scores.get)

    @property
    def confidence(self) -> float:
        return self.scores[self.emotion]

    def to_dict(self) -> dict:
        out = {} if self.face_id is None else {"id": self.face_id}
        return {**out, "box": list(self.box), "emotion": self.emotion,
                "confidence": round(self.confidence, 4),
                "scores": {k: round(v, 4) for k, v in self.scores.items()}}


class ExpressionPipeline:
    """Find every face in a BGR frame, classify all of them in one model call, draw results.

    ``still=True`` searches each image as a still photo (small faces too, ``detect_still``);
    otherwise at the detector's live working width. ``margin`` and ``align``: see crop_faces.
    """

    def __init__(self, model, detector=None, still: bool = False, margin: float | None = None,
                 align: bool = True):
        self.model = model
        self.detector = detector or make_detector()
        self.still = still
        self.margin = margin if margin is not None else getattr(self.detector, "crop_margin", 1.0)
        self.align = align

    def detect(self, frame: np.ndarray):
        return self.detector.detect_still(frame) if self.still else self.detector.detect(frame)

    def still_cost(self, width: int, height: int) -> int:
        """Bytes analysing and drawing a ``width`` x ``height`` still holds at its peak: the
        BGR image, its grey copy and JPEG, and the detector's still search."""
        return 5 * width * height + self.detector.still_cost(width, height)

    def analyze(self, frame: np.ndarray, faces=None) -> list[FaceResult]:
        """Return one FaceResult per detected face (``faces``: reuse these detections)."""
        faces = self.detect(frame) if faces is None else faces
        if not faces:
            return []
        gray = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        crops = crop_faces(gray, faces, self.model.input_size, self.margin, self.align)
        scores = self.model.predict_scores(crops)
        return [FaceResult(f.box, {e: float(s) for e, s in zip(EMOTIONS, row, strict=True)})
                for f, row in zip(faces, scores, strict=True)]

    def annotate(self, frame: np.ndarray) -> tuple[np.ndarray, list[FaceResult]]:
        """Analyse ``frame`` and draw the results on it (in place); return both."""
        results = self.analyze(frame)
        draw_results(frame, results)
        return frame, results


class LockedPipeline:
    """One pipeline (detector + model) shared by several threads: the stream threads and
    the browser sessions, or the API's upload workers. One lock for the detector and one
    for the model (the detectors are not all thread-safe): one thread may detect while
    another classifies, which is how a stream's two stages use both cores."""

    def __init__(self, pipeline: ExpressionPipeline):
        self.pipeline = pipeline
        self.detect_lock, self.classify_lock = threading.Lock(), threading.Lock()

    @property
    def model(self):
        return self.pipeline.model

    def still_cost(self, width: int, height: int) -> int:
        return self.pipeline.still_cost(width, height)

    def detect(self, frame: np.ndarray):
        with self.detect_lock:
            return self.pipeline.detect(frame)

    def analyze(self, frame: np.ndarray, faces=None) -> list[FaceResult]:
        faces = self.detect(frame) if faces is None else faces
        with self.classify_lock:
            return self.pipeline.analyze(frame, faces)
