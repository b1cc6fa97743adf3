"""ferapp.vision.tracking: ids kept across frames and gaps, scores smoothed."""

import pytest

from ferapp.labels import EMOTIONS
from ferapp.vision.boxes import iou
from ferapp.vision.pipeline import FaceResult
from ferapp.vision.tracking import FaceTracker
from tests.helpers import face_result


def test_tracker_keeps_ids_and_smooths():
    def result(x, happy):
        scores = dict.fromkeys(EMOTIONS, (1 - happy) / 6)
        scores["happy"] = happy
        return FaceResult((x, 10, 50, 50), scores)

    tracker = FaceTracker(smooth_s=0.2)  # 3 frames at 10 frames/s
    ids = []
    for i, happy in enumerate([0.9, 0.9, 0.1, 0.9]):
        out = tracker.update(i, [result(10 + 2 * i, happy), result(300, 0.1)], t=i / 10)
        ids.append([o.face_id for o in out])
        if i == 2:
            assert out[0].emotion == "happy"  # a single dip is smoothed away
            assert out[0].scores["happy"] == pytest.approx((0.9 + 0.9 + 0.1) / 3)
    assert ids == [[0, 1]] * 4
    # the window is in seconds: at frame 3 (t=0.3) the frame at t=0.0 has left it
    assert out[0].scores["happy"] == pytest.approx((0.9 + 0.1 + 0.9) / 3)
    raw = FaceTracker(smooth_s=0).update(0, [result(10, 0.3)], t=0)
    assert raw[0].scores["happy"] == pytest.approx(0.3)
    assert iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(1 / 3)


def test_tracker_keeps_one_id_through_a_two_frame_gap():
    tracker = FaceTracker(max_gap=3)
    ids = []
    for frame, present in enumerate([True, True, False, False, True, True]):
        out = tracker.update(frame, [face_result(100 + frame)] if present else [])
        ids += [r.face_id for r in out]
    assert set(ids) == {0} and len(ids) == 4
