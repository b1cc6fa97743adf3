"""analyze.py's single mode on a short video built from a real photo, and its bad-input errors."""

import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pandas as pd
import pytest

from ferapp.labels import EMOTIONS
from ferapp.labels import FACE_COLUMNS as COLUMNS
from tests.helpers import BLANK, FRAMES, ROOT


def run(*args, env=None):
    return subprocess.run([sys.executable, "analyze.py", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


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
    assert df.empty and list(df.columns)[:len(COLUMNS)] == list(COLUMNS)


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


@pytest.mark.slow
def test_cli_serves_an_ensemble_of_exports_and_refuses_a_wrong_one(clip, tmp_path, two_exports):
    scores = {}
    for name, dirs in (("a", two_exports[:1]), ("b", two_exports[1:]), ("ab", two_exports)):
        proc = run(clip, "--out", tmp_path / name, "--smooth", "0", "--no-video",
                   "--model-dir", *dirs, env={"FER_FLIP_BELOW": "1"})  # members flip all
        assert proc.returncode == 0, proc.stderr[-2000:]
        scores[name] = pd.read_csv(tmp_path / name / "faces.csv")[list(EMOTIONS)].to_numpy()
    assert len(scores["ab"]) == FRAMES - len(BLANK)
    np.testing.assert_allclose(scores["ab"], (scores["a"] + scores["b"]) / 2, atol=2e-3)
    assert np.abs(scores["a"] - scores["b"]).max() > 0.01  # two different members
    bad = run(clip, "--out", tmp_path / "bad", "--model-dir", two_exports[0], tmp_path)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().startswith("analyze.py: error:") and "no weights file" in bad.stderr
    assert not (tmp_path / "bad").exists()  # refused before any work
