"""ferapp.vision.models: which model serves, one export or an ensemble of several; exports
that do not fit together are refused with a one-line error."""

import json
import os
import shutil

import numpy as np
import pytest

from ferapp.labels import EMOTIONS
from ferapp.system import REPO_ROOT
from ferapp.vision.classifier import FacialExpressionModel, ModelLoadError, load_export
from ferapp.vision.models import Ensemble, check_members, default_model, model_dirs


def test_exports_of_one_label_order_and_input_size_make_an_ensemble(two_exports, tmp_path):
    two = two_exports
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


def test_the_ensemble_averages_its_members_each_with_its_mirror(two_exports):
    faces = np.random.default_rng(5).integers(0, 256, (6, 48, 48), dtype=np.uint8)
    members = [load_export(p, runtime="onnx", flip_below=1.0).predict_scores(faces)
               for p in two_exports]
    ensemble = Ensemble(two_exports, runtime="onnx")
    got = ensemble.predict_scores(faces)
    np.testing.assert_allclose(got, (members[0] + members[1]) / 2, atol=1e-6)
    assert ensemble.runtime == "ensemble of onnx, onnx" and ensemble.input_size == 48
    assert ensemble.predict_emotion(faces[0]) == EMOTIONS[int(got[0].argmax())]


def test_the_folders_to_serve_come_from_the_caller_the_environment_or_the_repo(
        two_exports, monkeypatch):
    a, b = map(str, two_exports)
    monkeypatch.delenv("FER_MODEL_DIR", raising=False)
    assert model_dirs() == [REPO_ROOT]
    monkeypatch.setenv("FER_MODEL_DIR", os.pathsep.join([a, b, ""]))
    assert [str(p) for p in model_dirs()] == [a, b]
    assert [str(p) for p in model_dirs(a)] == [a]  # the caller's choice wins
    assert [str(p) for p in model_dirs([b, a])] == [b, a]
    monkeypatch.setenv("FER_RUNTIME", "onnx")
    served = default_model()
    assert isinstance(served, Ensemble) and served.runtime == "ensemble of onnx, onnx"
    one = default_model([a])
    assert isinstance(one, FacialExpressionModel) and one.runtime == "onnx"
    monkeypatch.setenv("FER_MODEL_DIR", os.pathsep.join([a, str(REPO_ROOT / "missing")]))
    with pytest.raises(ModelLoadError, match="missing"):
        default_model()


def test_the_served_flip_gate_is_055_and_fer_flip_tta_0_turns_it_off(monkeypatch, grace_hopper):
    """The README's promises: the shipped model is served with the mirror image for faces
    whose top score is under 0.55; FER_FLIP_TTA=0 serves the first view alone (and
    FER_FLIP_BELOW moves the gate)."""
    import cv2

    from ferapp.vision.crop import crop_faces
    from ferapp.vision.detect import make_detector
    from ferapp.vision.models import default_model

    gray = cv2.cvtColor(grace_hopper, cv2.COLOR_BGR2GRAY)
    real = crop_faces(gray, make_detector().detect_still(grace_hopper), 48, 1.0, True)
    noise = np.random.default_rng(5).integers(0, 256, (3, 48, 48), dtype=np.uint8)
    faces = np.concatenate([real, noise])  # a real face (sure) and noise (unsure)
    for name in ("FER_FLIP_TTA", "FER_FLIP_BELOW", "FER_MODEL_DIR", "FER_RUNTIME"):
        monkeypatch.delenv(name, raising=False)
    served = default_model()
    assert (served.flip_tta, served.flip_below, served.runtime) == (True, 0.55, "int8")
    monkeypatch.setenv("FER_FLIP_TTA", "0")
    plain = default_model()
    assert plain.flip_tta is False
    first_view = plain.predict_scores(faces)
    mirrored = plain.predict_scores(faces[:, :, ::-1])
    gated = served.predict_scores(faces)
    unsure = first_view.max(1) < 0.55
    assert unsure.any() and (~unsure).any(), first_view.max(1)
    np.testing.assert_allclose(gated[~unsure], first_view[~unsure], atol=1e-6)
    np.testing.assert_allclose(gated[unsure], (first_view[unsure] + mirrored[unsure]) / 2,
                               atol=1e-6)
    monkeypatch.setenv("FER_FLIP_TTA", "1")
    monkeypatch.setenv("FER_FLIP_BELOW", "0.9")
    assert default_model().flip_below == 0.9
