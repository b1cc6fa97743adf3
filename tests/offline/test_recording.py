"""ferapp.offline.recording: one video to per-face rows, on a short clip built from a real photo."""

import cv2
import numpy as np
import pytest

from ferapp.labels import EMOTIONS
from ferapp.labels import FACE_COLUMNS as COLUMNS
from ferapp.offline.recording import analyze_video
from ferapp.vision.pipeline import ExpressionPipeline
from tests.helpers import BLANK, FRAMES


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
