"""ferapp.learning.quantize: the int8 model is served first and only for its weights; the class
bias on its logits."""

import numpy as np
import pytest

from ferapp.learning.export import export_artifacts
from ferapp.vision.classifier import FacialExpressionModel, ModelLoadError, load_keras_model


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
    from ferapp.learning.class_bias import apply_class_bias

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


def test_int8_weights_use_7_bits(tiny_model_dir, tmp_path):
    """Weights quantised to 7 bits (|w| <= 64, not 127): CPUs without int8 dot products
    (AVX2) add pairs of products in 16 bits, which full-range weights can overflow."""
    import onnx
    from onnx import numpy_helper

    faces = np.random.default_rng(7).integers(0, 256, (32, 48, 48), dtype=np.uint8)
    keras_model = load_keras_model(tiny_model_dir / "model.json",
                                   tiny_model_dir / "model_weights.h5")
    paths = export_artifacts(keras_model, tmp_path, calibration_faces=faces)
    weights = [numpy_helper.to_array(t) for t in onnx.load(str(paths["int8"])).graph.initializer
               if t.data_type == onnx.TensorProto.INT8 and t.dims]
    assert weights and all(np.abs(w.astype(int)).max() <= 64 for w in weights)
