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


def FaceDetector(*args, **kwargs):
    """The Haar-cascade detector (``--detector haar``); kept under its former name."""
    from ferapp.detect import HaarDetector

    return HaarDetector(*args, **kwargs)


def crop_faces(gray: np.ndarray, faces, size: int = 48, margin: float = 1.0,
               align: bool = True) -> np.ndarray:
    """Cut each face out of ``gray`` as an upright size x size crop: (N, size, size) uint8.

    ``faces`` are Detections (or plain (x, y, w, h) boxes). The crop is the square of side
    ``margin`` x the box's larger side around the box centre; when the detector gave eye
    landmarks and ``align`` is on, the crop is rotated about that centre so the eyes are
    level (one affine warp: rotation, scale and crop together). Parts outside the frame
    are filled by replicating the border.
    """
    out = np.empty((len(faces), size, size), np.uint8)
    H, W = gray.shape[:2]
    for i, face in enumerate(faces):
        box = getattr(face, "box", face)
        eyes = getattr(face, "eyes", None) if align else None
        x, y, w, h = box
        cx, cy = x + w / 2, y + h / 2
        side = max(w, h) * margin
        angle = 0.0
        if eyes is not None:
            (lx, ly), (rx, ry) = eyes
            angle = float(np.degrees(np.arctan2(ry - ly, rx - lx)))
        # shrink a region around the face with area averaging first (warpAffine alone
        # would alias a large face), then rotate + scale + crop in one warp
        half = side * 0.75  # covers the rotated square
        x0, y0 = int(max(0, cx - half)), int(max(0, cy - half))
        x1, y1 = int(min(W, cx + half + 1)), int(min(H, cy + half + 1))
        region, ox, oy, pre = gray, 0.0, 0.0, 1.0
        if x1 - x0 >= 2 and y1 - y0 >= 2 and side > 2 * size:
            pre = 2 * size / side
            region = cv2.resize(gray[y0:y1, x0:x1],
                                (max(1, round((x1 - x0) * pre)), max(1, round((y1 - y0) * pre))),
                                interpolation=cv2.INTER_AREA)
            ox, oy = x0, y0
        rcx, rcy = (cx - ox) * pre, (cy - oy) * pre
        m = cv2.getRotationMatrix2D((rcx, rcy), angle, size / (side * pre))
        m[:, 2] += (size / 2 - rcx, size / 2 - rcy)
        out[i] = cv2.warpAffine(region, m, (size, size), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_REPLICATE)
    return out


class ExpressionPipeline:
    """Find every face in a BGR frame, classify all of them in one model call, draw results.

    ``still=True`` searches each image as a still photo (small faces too, ``detect_still``);
    otherwise at the detector's live working width. ``margin`` and ``align``: see crop_faces.
    """

    def __init__(self, model, detector=None, still: bool = False, margin: float | None = None,
                 align: bool = True):
        from ferapp.detect import make_detector

        self.model = model
        self.detector = detector or make_detector()
        self.still = still
        self.margin = margin if margin is not None else getattr(self.detector, "crop_margin", 1.0)
        self.align = align

    def detect(self, frame: np.ndarray):
        return self.detector.detect_still(frame) if self.still else self.detector.detect(frame)

    def analyze(self, frame: np.ndarray, faces=None) -> list[FaceResult]:
        """Return one FaceResult per detected face (``faces``: reuse these detections)."""
        faces = self.detect(frame) if faces is None else faces
        if not faces:
            return []
        gray = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        crops = crop_faces(gray, faces, self.model.input_size, self.margin, self.align)
        scores = self.model.predict_scores(crops)
        return [FaceResult(f.box, {e: float(s) for e, s in zip(EMOTIONS, row)})
                for f, row in zip(faces, scores)]

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
