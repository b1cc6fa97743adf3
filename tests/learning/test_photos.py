"""ferapp.learning.photos and evaluate.py --photos: labelled real photos through the app's
still-image path, on a photo folder made here from the repository's own test photos."""

from __future__ import annotations

import re

import cv2
import numpy as np
import pytest

from ferapp.learning.photos import (
    PhotoFolderError,
    format_photo_report,
    labelled_photos,
    score_photos,
)
from ferapp.vision.detect import make_detector
from ferapp.vision.pipeline import ExpressionPipeline
from tests.helpers import run_script


@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory, grace_hopper):
    """neutral: the real photo (the model says neutral); happy: its mirror image (wrong);
    fear: a photo with no face (counted wrong); sad: a corrupt file (left out, reported);
    surprise: an empty class folder."""
    root = tmp_path_factory.mktemp("photos")
    for c in ("neutral", "happy", "fear", "sad", "surprise"):
        (root / c).mkdir()
    cv2.imwrite(str(root / "neutral" / "lab_grace.jpg"), grace_hopper)
    cv2.imwrite(str(root / "happy" / "lab_grace_mirror.png"), grace_hopper[:, ::-1])
    cv2.imwrite(str(root / "fear" / "wall.png"), np.full((300, 400, 3), 128, np.uint8))
    (root / "sad" / "web_broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a JPEG")
    (root / "neutral" / "notes.txt").write_text("not a photo: ignored")
    return root


def test_score_photos_counts_no_face_as_wrong_and_reports_the_rest(photo_folder,
                                                                   shipped_model):
    skipped = []
    pipeline = ExpressionPipeline(shipped_model, make_detector("centerface"), still=True)
    report = score_photos(photo_folder, pipeline, on_unreadable=lambda p, why: skipped.append(p))
    assert sorted(r.path.name for r in report.results) == [
        "lab_grace.jpg", "lab_grace_mirror.png", "wall.png"]
    assert [p.name for p in skipped] == ["web_broken.jpg"]
    assert [p.name for p, _ in report.unreadable] == ["web_broken.jpg"]
    assert report.empty_classes == ["surprise"]
    by_name = {r.path.name: r for r in report.results}
    assert by_name["lab_grace.jpg"].predicted == "neutral" and by_name["lab_grace.jpg"].faces == 1
    assert by_name["wall.png"].predicted is None and not by_name["wall.png"].correct
    assert [r.path.name for r in report.no_face] == ["wall.png"]
    assert report.accuracy == pytest.approx(1 / 3)
    recall = report.recall()
    assert recall["neutral"] == (1.0, 1) and recall["fear"] == (0.0, 1)
    assert recall["surprise"] == (None, 0) and recall["sad"] == (None, 0)
    assert report.by_source() == {"lab": (0.5, 2)}  # wall.png carries no source prefix
    text = format_photo_report(report, "made here")
    assert "3 photos scored, accuracy 0.333 (no face found in 1" in text
    assert "| lab | 2 | 0.500 |" in text and "empty class folder(s): surprise" in text


def test_cli_scores_the_folder_and_goes_on_past_a_corrupt_file(photo_folder):
    proc = run_script("evaluate.py", "--photos", str(photo_folder))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"evaluate.py: skipped {photo_folder / 'sad' / 'web_broken.jpg'}: " in proc.stderr
    assert "Traceback" not in proc.stderr
    assert "accuracy 0.333" in proc.stdout and "| recall | – | – | 0.00 | 0.00 |" in proc.stdout


@pytest.mark.parametrize("make, message", [
    (lambda t: t / "missing", "does not exist"),
    (lambda t: t, "holds no photos"),
    (lambda t: (t / "happy").mkdir() or (t / "joy").mkdir() or t,
     "holds folder(s) that are not an emotion: joy"),
])
def test_bad_photo_folders_are_one_line_errors(tmp_path, make, message):
    folder = make(tmp_path)
    with pytest.raises(PhotoFolderError, match=re.escape(message)):
        labelled_photos(folder)
    proc = run_script("evaluate.py", "--photos", str(folder))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("evaluate.py: error: ") and message in last
