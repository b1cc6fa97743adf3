"""ferapp.vision.motion: faces carried by optical flow between detector passes, on real
video: boxes as close as the detector's, one id per person, new faces found in time."""

import cv2
import numpy as np
import pytest

from ferapp.vision.boxes import iou
from ferapp.vision.motion import FaceLocator
from ferapp.vision.pipeline import ExpressionPipeline
from ferapp.vision.stream import StreamAnnotator
from tests.helpers import BLANK, DEVSET, missing


def read(path, n=90, width=640):
    cap = cv2.VideoCapture(str(path))
    frames = []
    while len(frames) < n:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(cv2.resize(f, (width, round(f.shape[0] * width / f.shape[1]))))
    cap.release()
    return frames


@pytest.fixture(scope="module")
def talking():
    path = DEVSET / "videos" / "talking_01.mp4"
    if not path.is_file():
        missing(f"the dev video {path}")
    return read(path)


class Counting:
    def __init__(self, detector):
        self.detector, self.calls = detector, 0

    def __call__(self, frame):
        self.calls += 1
        return self.detector.detect(frame)


def test_carried_boxes_stay_on_the_face_with_a_third_of_the_detector_passes(talking, detector):
    reference = [detector.detect(f) for f in talking]
    assert all(len(r) == 1 for r in reference)  # one woman talking, found in every frame
    count = Counting(detector)
    locate = FaceLocator(count, every=3)
    got = [locate(f) for f in talking]
    assert all(len(g) == 1 for g in got)
    overlaps = [iou(g[0].box, r[0].box) for g, r in zip(got, reference, strict=True)]
    assert min(overlaps) > 0.75 and np.mean(overlaps) > 0.9
    assert count.calls <= len(talking) // 3 + 3  # two extra calm-down passes at the start
    carried = [g[0] for g, r in zip(got, reference, strict=True) if g[0] is not r[0]]
    assert carried and all(c.eyes is not None for c in carried)  # eyes move with the box


def test_a_face_that_appears_is_found_by_the_next_periodic_pass(grace_hopper, detector):
    empty = np.full((480, 640, 3), 50, np.uint8)
    face = empty.copy()
    face[60:412, 170:470] = cv2.resize(grace_hopper, (300, 352))
    locate = FaceLocator(detector.detect, every=4)
    for _ in range(13):  # calm: nobody there, the detector runs every 4th frame
        assert locate(empty) == []
    found_at = next(i for i in range(10) if locate(face))
    assert found_at < 4


def test_a_lost_face_is_not_carried_into_an_empty_frame(clip, detector):
    cap = cv2.VideoCapture(str(clip))
    locate = FaceLocator(detector.detect, every=3)
    counts = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        counts.append(len(locate(f)))
    assert [i for i, c in enumerate(counts) if c == 0] == sorted(BLANK)


def test_the_stream_step_keeps_one_id_per_person(talking, shipped_model, detector):
    live = StreamAnnotator(ExpressionPipeline(shipped_model, detector), detect_every=3)
    ids = {r.face_id for f in talking for r in live(f.copy())[1]}
    assert ids == {0}


def test_odd_sized_frames_in_the_middle_of_a_stream_are_handled(talking, detector):
    locate = FaceLocator(detector.detect, every=2)
    odd = [np.zeros((1, 1, 3), np.uint8), np.zeros((1, 1, 3), np.uint8),
           cv2.resize(talking[5], (4000, 2250)), np.zeros((3, 7, 3), np.uint8)]
    counts = [len(locate(f)) for f in [*talking[:4], *odd, *talking[4:10]]]
    assert counts[:4] == [1] * 4 and counts[4:6] == [0, 0] and counts[6] == 1
    assert counts[7] == 0 and counts[8:] == [1] * 6  # back on the face after the odd ones
