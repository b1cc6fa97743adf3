"""ferapp.vision.classifier: loading, ONNX Runtime against Keras, flip TTA, bad model files."""

import json

import numpy as np
import pytest

from ferapp.learning.export import export_artifacts
from ferapp.vision.classifier import FacialExpressionModel, ModelLoadError, load_keras_model


def test_onnx_runtime_matches_keras(tiny_model_dir):
    fast = FacialExpressionModel(tiny_model_dir / "model.json",
                                 tiny_model_dir / "model_weights.h5", runtime="onnx")
    slow = FacialExpressionModel(tiny_model_dir / "model.json",
                                 tiny_model_dir / "model_weights.h5", runtime="keras")
    faces = np.random.default_rng(1).integers(0, 256, (4, 48, 48), dtype=np.uint8)
    np.testing.assert_allclose(fast.predict_scores(faces), slow.predict_scores(faces),
                               atol=1e-5)
    assert fast.runtime == "onnx"


def test_scores_shape_and_labels(tiny_model_dir):
    m = FacialExpressionModel(tiny_model_dir / "model.json", tiny_model_dir / "model_weights.h5")
    scores = m.predict_scores(np.zeros((3, 48, 48), np.uint8))
    assert scores.shape == (3, 7)
    np.testing.assert_allclose(scores.sum(axis=1), 1, atol=1e-5)
    assert m.predict_emotion(np.zeros((48, 48), np.uint8)) in m.EMOTIONS
    assert m.predict_scores(np.zeros((0, 48, 48), np.uint8)).shape == (0, 7)
    with pytest.raises(ValueError, match="shape"):
        m.predict_scores(np.zeros((2, 32, 32), np.uint8))


def test_missing_model_files(tmp_path):
    with pytest.raises(ModelLoadError, match="not found"):
        FacialExpressionModel(tmp_path / "model.json", tmp_path / "model_weights.h5")


def test_corrupt_model_files(tiny_model_dir, tmp_path):
    (tmp_path / "model.json").write_text("{not json")
    (tmp_path / "model_weights.h5").write_bytes(b"garbage")
    with pytest.raises(ModelLoadError, match="not a valid Keras model JSON"):
        FacialExpressionModel(tmp_path / "model.json", tmp_path / "model_weights.h5")
    with pytest.raises(ModelLoadError, match="cannot load weights"):
        FacialExpressionModel(tiny_model_dir / "model.json", tmp_path / "model_weights.h5")


def test_stale_onnx_is_not_used(tiny_model_dir, tmp_path):
    import shutil

    for name in ("model.json", "model_weights.h5", "model.onnx"):
        shutil.copy(tiny_model_dir / name, tmp_path / name)
    keras_model = load_keras_model(tmp_path / "model.json", tmp_path / "model_weights.h5")
    keras_model.set_weights([w * 0.5 for w in keras_model.get_weights()])
    keras_model.save(tmp_path / "model_weights.h5")  # weights change, model.onnx does not
    assert FacialExpressionModel(tmp_path / "model.json",
                                 tmp_path / "model_weights.h5").runtime == "keras"
    with pytest.raises(ModelLoadError, match="other weights"):
        FacialExpressionModel(tmp_path / "model.json", tmp_path / "model_weights.h5",
                              runtime="onnx")


def test_served_faces_reach_the_network_unaltered(tmp_path):
    """No input blur or other preprocessing outside the network: both runtimes give the
    Keras model's own output for raw uint8 faces."""
    import keras

    keras.utils.set_random_seed(1)
    inputs = keras.Input((48, 48, 1))
    x = keras.layers.Flatten()(keras.layers.Rescaling(1 / 255)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(7, activation="softmax")(x))
    paths = export_artifacts(model, tmp_path)
    assert "fer_preprocessing" not in json.loads(paths["json"].read_text())
    faces = np.random.default_rng(2).integers(0, 256, (3, 48, 48), dtype=np.uint8)
    expected = np.asarray(model(faces[..., None].astype("float32")))
    for runtime in ("onnx", "keras"):
        served = FacialExpressionModel(paths["json"], paths["weights"], runtime=runtime,
                                       flip_tta=False)
        np.testing.assert_allclose(served.predict_scores(faces), expected, atol=1e-5)


def test_flip_tta_averages_each_face_with_its_mirror(tiny_model_dir):
    files = tiny_model_dir / "model.json", tiny_model_dir / "model_weights.h5"
    plain = FacialExpressionModel(*files, runtime="onnx", flip_tta=False)
    tta = FacialExpressionModel(*files, runtime="onnx", flip_below=1.0)  # every face
    faces = np.random.default_rng(3).integers(0, 256, (5, 48, 48), dtype=np.uint8)
    expected = (plain.predict_scores(faces) + plain.predict_scores(faces[:, :, ::-1])) / 2
    np.testing.assert_allclose(tta.predict_scores(faces), expected, atol=1e-6)
    assert tta.predict_scores(faces[:1]).shape == (1, 7)


def test_the_flip_gate_mirrors_only_the_faces_the_first_view_is_unsure_of(shipped_model):
    from ferapp.vision.classifier import load_export
    from tests.helpers import ROOT

    rng = np.random.default_rng(3)
    faces = rng.integers(0, 256, (12, 48, 48), dtype=np.uint8)
    first = load_export(ROOT, flip_tta=False).predict_scores(faces)
    every = load_export(ROOT, flip_below=1.0).predict_scores(faces)
    gate = float(np.median(first.max(1)))  # half the faces under it
    gated = load_export(ROOT, flip_below=gate).predict_scores(faces)
    unsure = first.max(1) < gate
    assert 0 < unsure.sum() < len(faces)
    np.testing.assert_allclose(gated[unsure], every[unsure], atol=1e-5)
    np.testing.assert_allclose(gated[~unsure], first[~unsure], atol=1e-5)
    np.testing.assert_allclose(gated.sum(1), 1, atol=1e-4)
