"""ferapp.vision.crop: the crop is upright when the eyes are tilted."""

import cv2
import numpy as np

from ferapp.vision.crop import crop_faces
from ferapp.vision.detect import make_detector


def test_alignment_turns_a_30_degree_face_upright(grace_hopper, detector):
    h, w = grace_hopper.shape[:2]
    big = cv2.copyMakeBorder(grace_hopper, 200, 200, 200, 200, cv2.BORDER_REPLICATE)
    m = cv2.getRotationMatrix2D((big.shape[1] / 2, big.shape[0] / 2), 30, 1.0)
    rotated = cv2.warpAffine(big, m, (big.shape[1], big.shape[0]),
                             borderMode=cv2.BORDER_REPLICATE)
    (face,) = detector.detect(rotated) if len(detector.detect(rotated)) == 1 else \
        [max(detector.detect(rotated), key=lambda d: d.score)]
    (lx, ly), (rx, ry) = face.eyes
    tilt = np.degrees(np.arctan2(ry - ly, rx - lx))
    assert 22 < abs(tilt) < 38  # the detector sees the roll
    gray = cv2.cvtColor(rotated, cv2.COLOR_BGR2GRAY)
    upright = crop_faces(gray, [face], 192, margin=1.6)[0]
    (again,) = [max(make_detector("centerface", width=None).detect(upright),
                    key=lambda d: d.score)]
    (lx, ly), (rx, ry) = again.eyes
    assert abs(np.degrees(np.arctan2(ry - ly, rx - lx))) < 8  # level, to landmark noise (~5°)
    unaligned = crop_faces(gray, [face], 192, margin=1.6, align=False)[0]
    (tilted,) = [max(make_detector("centerface", width=None).detect(unaligned),
                     key=lambda d: d.score)]
    (lx, ly), (rx, ry) = tilted.eyes
    assert abs(np.degrees(np.arctan2(ry - ly, rx - lx))) > 20
