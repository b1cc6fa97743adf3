"""The one detect -> crop -> classify -> draw path, shared by the stream, the API and analyze.py."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from labels import EMOTIONS

# BGR colours per emotion, for boxes and labels
COLORS = {
    "angry": (40, 40, 220), "disgust": (60, 140, 40), "fear": (160, 60, 160),
    "happy": (40, 200, 240), "sad": (200, 120, 40), "surprise": (40, 160, 255),
    "neutral": (190, 190, 190),
}


@dataclass(frozen=True)
class FaceResult:
    """One face: its box in frame pixels (x, y, w, h) and the probability of each emotion."""

    box: tuple[int, int, int, int]
    scores: dict[str, float]

    @property
    def emotion(self) -> str:
        return max(self.scores, key=self.scores.get)

    @property
    def confidence(self) -> float:
        return self.scores[self.emotion]

    def to_dict(self) -> dict:
        return {"box": list(self.box), "emotion": self.emotion,
                "confidence": round(self.confidence, 4),
                "scores": {k: round(v, 4) for k, v in self.scores.items()}}


class FaceDetector:
    """OpenCV's frontal-face Haar cascade, run on a downscaled copy of the frame.

    Detection cost grows with pixels, so frames wider than ``detect_width`` are shrunk
    first and the boxes mapped back; a finer ``scale_factor`` than the tutorial's 1.3 and
    3 neighbours keep at least as many faces as it finds on the full frame, at under half
    its cost (bench/bench_recall.py --grid).
    """

    def __init__(self, detect_width: int = 288, scale_factor: float = 1.2,
                 min_neighbors: int = 3, min_face: int = 24):
        path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
        self.cascade = cv2.CascadeClassifier(path)
        if self.cascade.empty():
            raise RuntimeError(f"cannot load the Haar cascade {path}")
        self.detect_width, self.scale_factor = detect_width, scale_factor
        self.min_neighbors, self.min_face = min_neighbors, min_face

    def detect(self, gray: np.ndarray) -> list[tuple[int, int, int, int]]:
        """Return face boxes (x, y, w, h) in the coordinates of ``gray``."""
        h, w = gray.shape[:2]
        scale = min(1.0, self.detect_width / w) if self.detect_width else 1.0
        size = (round(w * scale), round(h * scale))
        if min(size) < 24:  # smaller than the cascade's window: no face can be found
            return []
        small = gray if scale == 1.0 else cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
        min_side = max(12, round(self.min_face * scale))
        found = self.cascade.detectMultiScale(
            small, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors,
            minSize=(min_side, min_side))
        boxes = [tuple(int(round(v / scale)) for v in box) for box in np.asarray(found)]
        return sorted(boxes, key=lambda b: (b[0], b[1]))


def crop_faces(gray: np.ndarray, boxes, size: int = 48) -> np.ndarray:
    """Cut each box out of ``gray`` and resize it to size x size: (N, size, size) uint8."""
    faces = np.empty((len(boxes), size, size), np.uint8)
    H, W = gray.shape[:2]
    for i, (x, y, w, h) in enumerate(boxes):
        x0, y0, x1, y1 = max(0, x), max(0, y), min(W, x + w), min(H, y + h)
        faces[i] = cv2.resize(gray[y0:y1, x0:x1], (size, size), interpolation=cv2.INTER_AREA)
    return faces


class ExpressionPipeline:
    """Find every face in a BGR frame, classify all of them in one model call, draw results."""

    def __init__(self, model, detector: FaceDetector | None = None):
        self.model = model
        self.detector = detector or FaceDetector()

    def analyze(self, frame: np.ndarray) -> list[FaceResult]:
        """Return one FaceResult per detected face."""
        gray = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        boxes = self.detector.detect(gray)
        if not boxes:
            return []
        scores = self.model.predict_scores(crop_faces(gray, boxes, self.model.input_size))
        return [FaceResult(box, {e: float(s) for e, s in zip(EMOTIONS, row)})
                for box, row in zip(boxes, scores)]

    def annotate(self, frame: np.ndarray) -> tuple[np.ndarray, list[FaceResult]]:
        """Analyse ``frame`` and draw the results on it (in place); return both."""
        results = self.analyze(frame)
        draw_results(frame, results)
        return frame, results


def draw_results(frame: np.ndarray, results, labels: list[str] | None = None) -> np.ndarray:
    """Draw a box and 'emotion confidence%' for each face (in place)."""
    thick = max(1, round(frame.shape[1] / 320))
    for i, r in enumerate(results):
        x, y, w, h = r.box
        label = labels[i] if labels else r.emotion
        color = COLORS.get(label, (255, 255, 255))
        cv2.rectangle(frame, (x, y), (x + w, y + h), color, thick + 1)
        text = f"{label} {r.scores.get(label, r.confidence):.0%}"
        scale = 0.45 * thick
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
        ty = y - 4 if y - th - base - 4 >= 0 else y + h + th + 4
        cv2.rectangle(frame, (x, ty - th - base), (x + tw + 4, ty + base // 2), color, -1)
        cv2.putText(frame, text, (x + 2, ty - base // 2), cv2.FONT_HERSHEY_SIMPLEX, scale,
                    (0, 0, 0), thick, cv2.LINE_AA)
    return frame


def draw_banner(frame: np.ndarray, text: str) -> np.ndarray:
    """Write a status line (e.g. 'reconnecting') across the top of a frame (in place)."""
    cv2.rectangle(frame, (0, 0), (frame.shape[1], 28), (0, 0, 0), -1)
    cv2.putText(frame, text, (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1,
                cv2.LINE_AA)
    return frame


def encode_jpeg(frame: np.ndarray, quality: int = 80) -> bytes:
    """Encode a BGR frame as JPEG bytes."""
    ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()
