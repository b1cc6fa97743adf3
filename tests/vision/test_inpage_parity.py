"""The page's live step (static/js/inpage/, run by Node) against the server's own
functions on the same inputs: the detector's input, the decoded and suppressed boxes, the
grey frame, the aligned 48x48 crops, the area shrink and the tracker (issue 40)."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess

import cv2
import numpy as np
import pytest

from ferapp.labels import EMOTIONS
from ferapp.vision.boxes import NMS_CONTAINED, NMS_IOU
from ferapp.vision.crop import crop_faces
from ferapp.vision.detect import CenterFaceDetector
from ferapp.vision.pipeline import FaceResult
from ferapp.vision.tracking import FaceTracker
from tests.helpers import ROOT, four_faces, missing


def _b64(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode()


def _back(text: str, dtype) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype)


def test_the_pages_live_step_computes_what_the_server_does(tmp_path, grace_hopper):
    node = shutil.which("node")
    if node is None:
        missing("Node.js (node), which runs the page's modules outside the browser")
    frame = four_faces(grace_hopper)
    h, w = frame.shape[:2]
    det = CenterFaceDetector()
    scale = min(1.0, det.width / w, 2 * det.width / h)
    small = cv2.resize(frame, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    H, W = -(-small.shape[0] // 32) * 32, -(-small.shape[1] // 32) * 32
    pad = cv2.copyMakeBorder(small, 0, H - small.shape[0], 0, W - small.shape[1],
                             cv2.BORDER_CONSTANT)
    blob = cv2.dnn.blobFromImage(pad, 1.0, (W, H), (0, 0, 0), swapRB=True)
    outputs = det._sess.run(["537", "538", "539", "540"], {"input.1": blob})
    faces = det.detect(frame)
    assert len(faces) == 4, faces
    gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    crops = crop_faces(gray, faces, 48, det.crop_margin, True)
    area_src = np.random.default_rng(0).integers(0, 256, (97, 131), dtype=np.uint8)
    rng = np.random.default_rng(1)
    sequence, py_tracker, expected = [], FaceTracker(max_gap=15, smooth_s=1.0), []
    for k in range(12):  # two faces moving, one lost for three frames, one appearing
        boxes = [(100 + 3 * k, 80, 90, 100)] + ([(400 - 2 * k, 200, 80, 90)]
                                                 if not 4 <= k < 7 else [])
        boxes += [(250, 300, 60, 70)] if k >= 8 else []
        results = [FaceResult(b, dict(zip(EMOTIONS, rng.dirichlet(np.ones(7)).tolist(),
                                          strict=True))) for b in boxes]
        t = k / 15
        sequence.append({"frame": k, "t": t, "results": [
            {"box": list(r.box), "scores": [r.scores[e] for e in EMOTIONS]} for r in results]})
        expected.append([r.to_dict() for r in py_tracker.update(k, results, t)
                         + py_tracker.held(k, 2)])
    rgba = cv2.cvtColor(frame, cv2.COLOR_BGR2RGBA)
    (tmp_path / "in.json").write_text(json.dumps({
        "w": w, "h": h, "rgba": _b64(rgba),
        "detector": {"width": det.width, "threshold": det.threshold, "min_face": det.min_face,
                     "min_input": det.min_input, "nms_iou": NMS_IOU,
                     "nms_contained": NMS_CONTAINED},
        "outputs": [_b64(o.astype(np.float32)) for o in outputs],
        "faces": [{"box": list(f.box), "eyes": [list(e) for e in f.eyes]} for f in faces],
        "crop": {"size": 48, "margin": det.crop_margin, "align": True},
        "area": {"src": _b64(area_src), "w": 131, "h": 97, "dw": 40, "dh": 29},
        "tracking": {"min_iou": 0.3, "max_gap": 15, "smooth_s": 1.0, "hold": 2},
        "labels": list(EMOTIONS), "sequence": sequence}))
    proc = subprocess.run([node, "tests/js/inpage_pure.mjs", str(tmp_path / "in.json"),
                           str(tmp_path / "out.json")], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads((tmp_path / "out.json").read_text())

    # the detector's input: the shrunk frame, padded, as floats (an area shrink: +-1 level)
    assert (out["H"], out["W"]) == (H, W)
    js_blob = _back(out["blob"], np.float32).reshape(blob.shape)
    assert np.abs(js_blob - blob).max() <= 1.0
    # the same network outputs decode to the same boxes and eyes
    assert [f["box"] for f in out["faces"]] == [list(f.box) for f in faces]
    for js, py in zip(out["faces"], faces, strict=True):
        np.testing.assert_allclose(js["eyes"], py.eyes, atol=1e-3)
    # the grey frame exactly; the crops (OpenCV's fixed-point warp) to a level at most
    assert np.array_equal(_back(out["gray"], np.uint8).reshape(gray.shape), gray)
    for js, py in zip(out["crops"], crops, strict=True):
        diff = np.abs(_back(js, np.uint8).reshape(48, 48).astype(int) - py.astype(int))
        assert diff.max() <= 1 and diff.mean() <= 0.05, (diff.max(), diff.mean())
    shrunk = cv2.resize(area_src, (40, 29), interpolation=cv2.INTER_AREA)
    assert np.abs(_back(out["shrunk"], np.uint8).reshape(29, 40).astype(int)
                  - shrunk.astype(int)).max() <= 1
    # the tracker: the same ids, boxes, labels and smoothed scores, held faces included
    assert len(out["tracked"]) == len(expected)
    for js_frame, py_frame in zip(out["tracked"], expected, strict=True):
        assert [(f["id"], f["box"], f["emotion"]) for f in js_frame] == \
            [(f["id"], f["box"], f["emotion"]) for f in py_frame]
        for js, py in zip(js_frame, py_frame, strict=True):
            assert js["scores"] == pytest.approx(py["scores"], abs=2e-4)
