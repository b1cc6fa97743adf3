"""ferapp.learning.ensemble: a teacher ensemble's distillation targets; evaluate.py scores an
ensemble and refuses mismatched exports with a one-line error (the served ensemble itself:
tests/vision/test_models.py)."""

import json
import shutil

import numpy as np
import pytest

from ferapp.labels import EMOTIONS
from ferapp.learning.ensemble import ensemble_probs
from ferapp.learning.targets import soften, teacher_probs
from tests.helpers import run_script


def test_the_targets_are_the_softened_mean_of_the_teachers(two_exports):
    two = two_exports
    faces = np.random.default_rng(5).integers(0, 256, (6, 48, 48), dtype=np.uint8)
    soft = ensemble_probs(two, faces, temperature=2.0)
    mean = (teacher_probs(two[0], faces) + teacher_probs(two[1], faces)) / 2
    np.testing.assert_allclose(soft, soften(mean, 2.0), atol=1e-6)
    np.testing.assert_allclose(soft.sum(1), 1, atol=1e-5)
    assert soft.max(1).mean() < mean.max(1).mean()  # a temperature softens


@pytest.mark.slow
def test_evaluate_scores_an_ensemble_and_refuses_a_mismatched_one(two_exports, data_dir,
                                                                   tmp_path):
    two = two_exports
    ok = run_script("evaluate.py", "--ensemble", *map(str, two), "--split", "public",
                    "--out", str(tmp_path / "eval"))
    assert ok.returncode == 0, ok.stderr[-2000:]
    report = json.loads((tmp_path / "eval" / "report.json").read_text())
    assert report["model_dir"] == [str(p) for p in two] and report["training"] is None
    assert 0 <= report["splits"]["PublicTest"]["original"]["accuracy"] <= 1
    swapped = tmp_path / "swapped"
    shutil.copytree(two[1], swapped)
    (swapped / "training.json").write_text(json.dumps({"labels": EMOTIONS[::-1]}))
    bad = run_script("evaluate.py", "--ensemble", str(two[0]), str(swapped))
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "labels in another order" in bad.stderr.strip().splitlines()[-1]
