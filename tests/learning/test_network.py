"""ferapp.learning.network: every architecture under mixed precision keeps a float32 output;
the residual one adds where it should and serves from its export."""

import numpy as np
import pytest

from ferapp.learning.architectures import ARCHITECTURES, RESIDUAL
from ferapp.learning.export import export_artifacts
from ferapp.learning.network import build_model, dtype_policy
from ferapp.vision.classifier import FacialExpressionModel


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


def test_residual_architecture_adds_each_pair_input_and_serves_from_its_export(tmp_path):
    """The residual network: one Add per pair of convolutions, a 1x1 projection where the
    width changes; its export (JSON + H5 + ONNX + int8) serves the Keras model's outputs."""
    import keras

    assert set(ARCHITECTURES) >= RESIDUAL
    keras.utils.set_random_seed(0)
    model = build_model("residual")
    names = [layer.name for layer in model.layers]
    blocks = ARCHITECTURES["residual"][0]
    assert sum(n.startswith("add") for n in names) == sum(c // 2 for _, _, c in blocks)
    # widths change at the first unit of each block; the second unit of a block adds as is
    assert [n for n in names if n.startswith("proj") and not n.endswith("_bn")] == [
        "proj1_1", "proj2_1", "proj3_1", "proj4_1"]
    assert "add3_2" in names and "proj3_2" not in names
    assert not any(n.startswith(("add", "proj")) for n in
                   (layer.name for layer in build_model("wide").layers))

    faces = np.random.default_rng(3).integers(0, 256, (5, 48, 48), dtype=np.uint8)
    reference = np.asarray(model(faces[..., None].astype("float32")))
    files = export_artifacts(model, tmp_path, calibration_faces=faces)
    served = FacialExpressionModel(files["json"], files["weights"], runtime="onnx",
                                   flip_tta=False)
    np.testing.assert_allclose(served.predict_scores(faces), reference, atol=1e-4)
    int8 = FacialExpressionModel(files["json"], files["weights"], runtime="int8",
                                 flip_tta=False)
    np.testing.assert_allclose(int8.predict_scores(faces), reference, atol=0.05)
