"""ferapp.learning.ensemble: several exports as one model, for distillation targets and
for scoring; mismatched exports are refused with a one-line error."""

import json
import shutil

import numpy as np
import pytest

from ferapp.labels import EMOTIONS
from ferapp.learning.ensemble import Ensemble, check_members, ensemble_probs
from ferapp.learning.targets import soften, teacher_probs
from ferapp.vision.classifier import ModelLoadError, load_export
from tests.helpers import run_script


@pytest.fixture(scope="module")
def two(tiny_model_dir, tmp_path_factory):
    """Two exports: the tiny model and a copy of it with other weights."""
    import keras

    from ferapp.learning.export import export_artifacts

    other = tmp_path_factory.mktemp("other")
    model = keras.models.model_from_json((tiny_model_dir / "model.json").read_text())
    model.load_weights(tiny_model_dir / "model_weights.h5")
    model.set_weights([w * 1.5 + 0.01 for w in model.get_weights()])
    export_artifacts(model, other, training={"note": "a second teacher"})
    return [tiny_model_dir, other]


def test_exports_of_one_label_order_and_input_size_make_an_ensemble(two, tmp_path):
    assert check_members(two) == 48
    assert json.loads((two[1] / "training.json").read_text())["labels"] == list(EMOTIONS)
    swapped = tmp_path / "swapped"
    shutil.copytree(two[1], swapped)
    (swapped / "training.json").write_text(json.dumps({"labels": EMOTIONS[::-1]}))
    with pytest.raises(ModelLoadError, match="labels in another order"):
        check_members([two[0], swapped])
    bigger = tmp_path / "bigger"
    shutil.copytree(two[1], bigger)
    arch = (bigger / "model.json").read_text().replace("[null, 48, 48, 1]", "[null, 64, 64, 1]")
    (bigger / "model.json").write_text(arch)
    with pytest.raises(ModelLoadError, match="different input sizes.*48x48.*64x64"):
        check_members([two[0], bigger])
    with pytest.raises(ModelLoadError, match="no weights file"):
        check_members([two[0], tmp_path])


def test_the_ensemble_averages_its_members_each_with_its_mirror(two):
    faces = np.random.default_rng(5).integers(0, 256, (6, 48, 48), dtype=np.uint8)
    members = [load_export(p, runtime="onnx", flip_below=1.0).predict_scores(faces)
               for p in two]
    got = Ensemble(two, runtime="onnx").predict_scores(faces)
    np.testing.assert_allclose(got, (members[0] + members[1]) / 2, atol=1e-6)
    soft = ensemble_probs(two, faces, temperature=2.0)
    mean = (teacher_probs(two[0], faces) + teacher_probs(two[1], faces)) / 2
    np.testing.assert_allclose(soft, soften(mean, 2.0), atol=1e-6)
    np.testing.assert_allclose(soft.sum(1), 1, atol=1e-5)
    assert soft.max(1).mean() < mean.max(1).mean()  # a temperature softens


@pytest.mark.slow
def test_evaluate_scores_an_ensemble_and_refuses_a_mismatched_one(two, data_dir, tmp_path):
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
