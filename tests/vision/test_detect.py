"""ferapp.vision.detect: the default detector on the hand-checked devset photos, edges, Haar."""


import cv2
import numpy as np
import pytest

from ferapp.vision.crop import crop_faces
from ferapp.vision.detect import HaarDetector, clip_box, iou, make_detector


def matched(dets, truth, min_iou=0.4):
    return sum(any(iou(d.box, t) >= min_iou for d in dets) for t in truth)


@pytest.mark.parametrize("name", ["group_13.jpg", "group_05.jpg", "single_tilt_01.png",
                                  "single_tilt_04.jpg", "single_occluded_01.png"])
def test_default_detector_finds_the_labelled_faces(devset, detector, name):
    image, truth = devset(name)
    dets = detector.detect_still(image)
    assert matched(dets, truth) == len(truth)
    assert len(dets) == len(truth)  # and nothing else
    assert all(d.eyes is not None for d in dets)


@pytest.mark.parametrize("name", ["noface_02.jpg", "noface_04.png", "noface_08.jpg"])
def test_no_face_photos_give_no_box(devset, detector, name):
    image, _ = devset(name)
    assert detector.detect_still(image) == []


def test_haar_fallback_still_works(devset):
    image, truth = devset("group_05.jpg")
    dets = HaarDetector().detect_still(image)
    assert matched(dets, truth, 0.3) >= 4  # Haar finds 4 of these 7 (bench_detect.py)
    assert make_detector("haar").name == "haar"


def test_unknown_detector_name():
    with pytest.raises(ValueError, match="unknown detector"):
        make_detector("mtcnn")


def test_face_at_the_edge_is_clipped(grace_hopper, detector):
    h, w = grace_hopper.shape[:2]
    shifted = np.zeros_like(grace_hopper)
    shifted[:, : w - 200] = grace_hopper[:, 200:]  # the face now touches the left edge
    for dets in (detector.detect(shifted), detector.detect_still(shifted)):
        for d in dets:
            x, y, bw, bh = d.box
            assert x >= 0 and y >= 0 and x + bw <= w and y + bh <= h
    assert clip_box((-10, -10, 30, 30), 100, 100) == (0, 0, 20, 20)
    assert clip_box((120, 0, 30, 30), 100, 100) is None
    crops = crop_faces(cv2.cvtColor(shifted, cv2.COLOR_BGR2GRAY), [(-40, 50, 200, 200)])
    assert crops.shape == (1, 48, 48)
