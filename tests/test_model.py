import json

import numpy as np
import pytest

from model import FacialExpressionModel, ModelLoadError, export_artifacts, load_keras_model
from network import ARCHITECTURES, build_model, dtype_policy


def test_export_load_round_trip_identical(tiny_model_dir, tmp_path):
    faces = np.random.default_rng(0).integers(0, 256, (6, 48, 48), dtype=np.uint8)
    keras_model = load_keras_model(tiny_model_dir / "model.json",
                                   tiny_model_dir / "model_weights.h5")
    reference = np.asarray(keras_model(faces[..., None].astype("float32")))
    # export again from the loaded model: files written twice load to the same predictions
    again = export_artifacts(keras_model, tmp_path, onnx=False)
    reloaded = FacialExpressionModel(again["json"], again["weights"], runtime="keras",
                                     flip_tta=False)
    np.testing.assert_array_equal(reloaded.predict_scores(faces), reference)
    assert "compile_config" not in json.loads(again["json"].read_text())


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
    tta = FacialExpressionModel(*files, runtime="onnx")  # the served default
    faces = np.random.default_rng(3).integers(0, 256, (5, 48, 48), dtype=np.uint8)
    expected = (plain.predict_scores(faces) + plain.predict_scores(faces[:, :, ::-1])) / 2
    np.testing.assert_allclose(tta.predict_scores(faces), expected, atol=1e-6)
    assert tta.predict_scores(faces[:1]).shape == (1, 7)


def test_int8_export_is_served_first_and_only_for_its_weights(tiny_model_dir, tmp_path):
    import shutil

    faces = np.random.default_rng(4).integers(0, 256, (64, 48, 48), dtype=np.uint8)
    keras_model = load_keras_model(tiny_model_dir / "model.json",
                                   tiny_model_dir / "model_weights.h5")
    paths = export_artifacts(keras_model, tmp_path / "a", calibration_faces=faces)
    assert paths["int8"].name == "model.int8.onnx"
    fast = FacialExpressionModel(paths["json"], paths["weights"])
    assert fast.runtime == "int8"
    exact = FacialExpressionModel(paths["json"], paths["weights"], runtime="onnx")
    np.testing.assert_allclose(fast.predict_scores(faces), exact.predict_scores(faces),
                               atol=0.05)
    np.testing.assert_allclose(fast.predict_scores(faces).sum(axis=1), 1, atol=1e-5)
    # an int8 file beside other weights is refused: auto falls back to model.onnx
    other = tmp_path / "b"
    shutil.copytree(tiny_model_dir, other)
    shutil.copy(paths["int8"], other / "model.int8.onnx")
    keras_model.set_weights([w * 0.5 for w in keras_model.get_weights()])
    keras_model.save(other / "model_weights.h5")
    export_artifacts(keras_model, other)  # re-export without calibration faces
    assert not (other / "model.int8.onnx").exists()  # the stale int8 file is removed
    shutil.copy(paths["int8"], other / "model.int8.onnx")
    assert FacialExpressionModel(other / "model.json", other / "model_weights.h5").runtime == "onnx"
    with pytest.raises(ModelLoadError, match="other weights"):
        FacialExpressionModel(other / "model.json", other / "model_weights.h5", runtime="int8")



def test_calibrated_int8_is_the_uncalibrated_one_plus_the_bias(tiny_model_dir, tmp_path):
    """The class bias is chosen on the int8 scores of the model before it; the calibrated
    export's int8 file adds it to those logits, so it serves exactly what the search saw."""
    from training import apply_class_bias

    faces = np.random.default_rng(5).integers(0, 256, (64, 48, 48), dtype=np.uint8)
    keras_model = load_keras_model(tiny_model_dir / "model.json",
                                   tiny_model_dir / "model_weights.h5")
    before = export_artifacts(keras_model, tmp_path / "before", calibration_faces=faces)
    bias = np.array([-0.8, -1.5, -0.4, -0.1, -0.4, 0.3, 0.0])
    apply_class_bias(keras_model, bias, layer=keras_model.layers[-1].name)
    after = export_artifacts(keras_model, tmp_path / "after", calibration_faces=faces,
                             int8_bias=(before["int8"], bias))
    served = FacialExpressionModel(after["json"], after["weights"], flip_tta=False)
    assert served.runtime == "int8"  # the fingerprint is the calibrated weights'
    searched = FacialExpressionModel(before["json"], before["weights"], flip_tta=False)
    logits = np.log(searched.predict_scores(faces)) + bias
    expected = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    np.testing.assert_allclose(served.predict_scores(faces), expected, atol=1e-5)
    fp32 = FacialExpressionModel(after["json"], after["weights"], runtime="onnx",
                                 flip_tta=False)  # and it still agrees with its fp32 model
    np.testing.assert_allclose(served.predict_scores(faces), fp32.predict_scores(faces),
                               atol=0.05)


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_architectures_under_mixed_precision_keep_a_float32_output(arch):
    import keras

    with dtype_policy("mixed_bfloat16"):
        model = build_model(arch)
    assert model.get_layer("conv1_1").compute_dtype == "bfloat16"
    assert model.get_layer("emotion").compute_dtype == "float32"
    probs = keras.ops.convert_to_numpy(model(np.zeros((2, 48, 48, 1), "float32")))
    assert probs.dtype == np.float32 and probs.shape == (2, 7)
    assert build_model(arch).get_layer("conv1_1").compute_dtype == "float32"
