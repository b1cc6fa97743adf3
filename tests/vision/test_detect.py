"""ferapp.vision.detect: the default detector on the hand-checked devset photos, edges, Haar."""


import cv2
import numpy as np
import pytest

from ferapp.vision.boxes import clip_box, iou
from ferapp.vision.crop import crop_faces
from ferapp.vision.detect import HaarDetector, make_detector


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


STILL_PEAK = r"""
import sys
from pathlib import Path

import cv2

from ferapp.system import release_free_memory, tune_malloc
from ferapp.vision.detect import make_detector
from ferapp.vision.sources import demo_photo

tune_malloc()  # as the server does
name, w, h, release = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"


def status(key):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key):
            return int(line.split()[1]) * 1024


detector = make_detector(name)
detector.release_memory = release
image = cv2.resize(demo_photo(), (w, h))
detector.detect(cv2.resize(image, (320, 240)))  # the runtime's first-call state
release_free_memory()
Path("/proc/self/clear_refs").write_text("5")  # the peak resident size := the current one
base = status("VmRSS")
faces = detector.detect_still(image)
release_free_memory()  # as the server does after each upload
print(detector.still_cost(w, h), status("VmHWM") - base, status("VmRSS") - base, len(faces))
"""


def _still_peak(name, w, h, release=True):
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", STILL_PEAK, name, str(w), str(h),
                          "1" if release else "0"], check=True, capture_output=True,
                         text=True).stdout.split()
    return tuple(int(v) for v in out)


@pytest.mark.parametrize("name", ["centerface", "yunet", "haar"])
def test_still_cost_covers_the_still_search(name):
    """The bytes ``still_cost`` announces (what an upload holds of the server's budget while
    it is analysed) cover the measured peak of ``detect_still`` in a fresh process, for a
    frame-sized, a tiled and a shrunk-then-tiled still, without gross over-estimate."""
    for w, h in ((640, 480), (2048, 1365), (2400, 1667), (1500, 5000)):
        cost, peak, _, faces = _still_peak(name, w, h)
        assert faces >= 1 or name == "haar", (name, w, h)  # (Haar: not on every size)
        assert peak <= cost <= 3 * peak + 2**24, (name, w, h, peak / 2**20, cost / 2**20)


def test_a_releasing_detector_gives_a_stills_buffers_back():
    """The server's stills detector (``release_memory``) keeps nothing of a still's ~80 MB
    of runtime buffers once it is done; the live one keeps them for the next frame."""
    _, _, kept, _ = _still_peak("centerface", 2400, 1667, release=False)
    _, _, left, _ = _still_peak("centerface", 2400, 1667, release=True)
    assert kept > 40 * 2**20, kept / 2**20  # what the arena kept before
    assert left < 16 * 2**20, left / 2**20
