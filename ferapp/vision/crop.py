"""Cut faces out of a frame the way FER-2013 frames them: square, upright, 48x48 gray."""

from __future__ import annotations

import cv2
import numpy as np


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
