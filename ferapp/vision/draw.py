"""Drawing on frames: a box and label per face, a status banner, JPEG encoding."""

from __future__ import annotations

import cv2
import numpy as np

from ferapp.labels import COLORS


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
