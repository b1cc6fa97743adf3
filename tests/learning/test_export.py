"""ferapp.learning.export: the one export helper's round trip (legacy H5 + uncompiled JSON)."""

import json

import numpy as np

from ferapp.learning.export import export_artifacts
from ferapp.vision.classifier import FacialExpressionModel, load_keras_model


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
