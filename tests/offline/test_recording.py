"""ferapp.offline.recording: one video to per-face rows, on a short clip built from a real photo."""

import cv2
import numpy as np
import pytest

from ferapp.labels import EMOTIONS
from ferapp.labels import FACE_COLUMNS as COLUMNS
from ferapp.offline.recording import analyze_video
from ferapp.vision.pipeline import ExpressionPipeline

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
    assert list(df.columns) == list(COLUMNS)
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
