"""ferapp.vision.pipeline: one call of the model per frame for all its faces, results in the
canonical label order, drawing in place, and the lock of a shared pipeline."""

from __future__ import annotations

import threading
import time

import numpy as np

from ferapp.labels import EMOTIONS
from ferapp.vision.boxes import Detection
from ferapp.vision.pipeline import ExpressionPipeline, FaceResult, LockedPipeline
from tests.helpers import FakeModel


class TwoFaces:
    """A detector that always finds the same two faces."""

    crop_margin = 1.0

    def detect(self, frame):
        return [Detection((10, 10, 40, 40)), Detection((80, 20, 30, 30))]

    detect_still = detect


def test_all_faces_of_a_frame_go_to_the_model_in_one_call():
    model = FakeModel()
    results = ExpressionPipeline(model, TwoFaces()).analyze(np.zeros((120, 160, 3), np.uint8))
    assert model.calls == 1 and len(results) == 2
    assert [r.box for r in results] == [(10, 10, 40, 40), (80, 20, 30, 30)]
    assert list(results[0].scores) == list(EMOTIONS) and results[0].emotion == "happy"


def test_no_face_means_no_model_call_and_annotate_draws_in_place():
    class NoFace(TwoFaces):
        def detect(self, frame):
            return []

    model = FakeModel()
    assert ExpressionPipeline(model, NoFace()).analyze(np.zeros((50, 50), np.uint8)) == []
    assert model.calls == 0
    frame = np.zeros((120, 160, 3), np.uint8)
    annotated, results = ExpressionPipeline(FakeModel(), TwoFaces()).annotate(frame)
    assert annotated is frame and frame.any() and len(results) == 2  # boxes drawn on it


def test_face_result_as_json_rounds_and_keeps_the_label_order():
    r = FaceResult((1, 2, 3, 4), dict.fromkeys(EMOTIONS, 1 / 7), face_id=5)
    d = r.to_dict()
    assert d["id"] == 5 and d["box"] == [1, 2, 3, 4] and list(d["scores"]) == list(EMOTIONS)
    assert d["confidence"] == round(1 / 7, 4)


def test_a_locked_pipeline_serialises_each_part_but_detects_while_it_classifies():
    inside = {"detect": 0, "classify": 0}
    most = {"detect": 0, "classify": 0, "both": 0}

    def busy(part):
        inside[part] += 1
        most[part] = max(most[part], inside[part])
        most["both"] = max(most["both"], inside["detect"] + inside["classify"])
        time.sleep(0.02)
        inside[part] -= 1

    class Slow:
        def detect(self, frame):
            busy("detect")
            return [(0, 0, 4, 4)]

        def analyze(self, frame, faces=None):
            assert faces is not None  # the locked pipeline detects under its own lock
            busy("classify")
            return []

    shared = LockedPipeline(Slow())
    threads = [threading.Thread(target=shared.analyze, args=(None,)) for _ in range(6)]
    threads += [threading.Thread(target=shared.detect, args=(None,)) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most["detect"] == 1 and most["classify"] == 1  # never two in one part
    assert most["both"] == 2  # but one thread detects while another classifies
