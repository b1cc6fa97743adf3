"""analyze.py on a short video built from a real photo, with a frame that has no face."""

import json
import subprocess
import sys

import cv2
import numpy as np
import pandas as pd
import pytest

from analyze import COLUMNS, FaceTracker, analyze_video, iou
from conftest import ROOT
from labels import EMOTIONS
from pipeline import ExpressionPipeline, FaceResult

FRAMES, BLANK = 12, {5}


@pytest.fixture(scope="module")
def clip(tmp_path_factory, grace_hopper):
    """640x480, 10 fps: the photo drifting right by 4 px a frame; frame 5 is blank."""
    path = tmp_path_factory.mktemp("clip") / "interview.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (640, 480))
    face = cv2.resize(grace_hopper, (300, 352))
    for i in range(FRAMES):
        frame = np.full((480, 640, 3), 50, np.uint8)
        if i not in BLANK:
            frame[60:412, 100 + 4 * i:400 + 4 * i] = face
        writer.write(frame)
    writer.release()
    return path


@pytest.fixture(scope="module")
def pipeline(shipped_model):
    return ExpressionPipeline(shipped_model)


def test_rows_ids_probabilities(clip, pipeline, tmp_path):
    df = analyze_video(clip, tmp_path, pipeline=pipeline, progress=False)
    assert list(df.columns) == COLUMNS
    assert sorted(df["frame"]) == [i for i in range(FRAMES) if i not in BLANK]
    assert df["face_id"].nunique() == 1  # one person, one id, across the blank frame
    np.testing.assert_allclose(df[list(EMOTIONS)].sum(axis=1), 1, atol=1e-3)
    assert df["time_s"].iloc[1] == pytest.approx(0.1)
    video = cv2.VideoCapture(str(tmp_path / "interview_annotated.mp4"))
    count = 0
    while video.read()[0]:
        count += 1
    assert count == FRAMES


def test_every_n(clip, pipeline, tmp_path):
    df = analyze_video(clip, tmp_path, every=3, pipeline=pipeline, progress=False)
    assert set(df["frame"]) == {0, 3, 6, 9}
    video = cv2.VideoCapture(str(tmp_path / "interview_annotated.mp4"))
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == FRAMES // 3


def test_tracker_keeps_ids_and_smooths():
    def result(x, happy):
        scores = {e: (1 - happy) / 6 for e in EMOTIONS}
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


def run(*args):
    return subprocess.run([sys.executable, "analyze.py", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_cli_outputs(clip, tmp_path):
    proc = run(clip, "--out", tmp_path, "--smooth", "0.5")
    assert proc.returncode == 0, proc.stderr[-2000:]
    df = pd.read_csv(tmp_path / "faces.csv")
    assert len(df) == FRAMES - len(BLANK)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["faces"]["0"]["frames"] == len(df)
    assert sum(summary["faces"]["0"]["share"].values()) == pytest.approx(1)
    png = (tmp_path / "timeline_face0.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and cv2.imdecode(
        np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR) is not None
    assert "dominant" in proc.stdout


@pytest.mark.slow
def test_cli_no_faces_gives_header_only_csv(tmp_path):
    blank = tmp_path / "wall.png"
    cv2.imwrite(str(blank), np.full((240, 320, 3), 128, np.uint8))
    proc = run(blank, "--out", tmp_path / "o")
    assert proc.returncode == 0 and "no faces found" in proc.stdout
    df = pd.read_csv(tmp_path / "o" / "faces.csv")
    assert df.empty and list(df.columns)[:len(COLUMNS)] == COLUMNS


@pytest.mark.slow
@pytest.mark.parametrize("make, message", [
    (lambda p: p / "missing.mp4", "does not exist"),
    (lambda p: (p / "broken.mp4").write_bytes(b"\x00" * 500) and p / "broken.mp4",
     "cannot decode"),
])
def test_cli_bad_input(tmp_path, make, message):
    proc = run(make(tmp_path), "--out", tmp_path / "o")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().startswith("analyze.py: error:") and message in proc.stderr
