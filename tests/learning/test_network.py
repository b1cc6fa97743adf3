"""ferapp.learning.network: every architecture under mixed precision keeps a float32 output;
the residual one adds where it should and serves from its export."""

import numpy as np
import pytest

from ferapp.learning.architectures import ARCHITECTURES, RESIDUAL, STUDENT_MACS, STUDENTS
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


@pytest.mark.parametrize("arch", sorted(STUDENTS))
def test_every_student_costs_at_most_60_m_counted_from_its_exported_graph(arch, tmp_path):
    from ferapp.learning.cost import multiply_adds

    files = export_artifacts(build_model(arch), tmp_path)
    assert 0 < multiply_adds(files["onnx"]) <= STUDENT_MACS


@pytest.mark.slow
def test_a_student_is_distilled_exported_served_and_costs_at_most_60_m(tmp_path, smoke_run):
    """A student architecture (issue 39) trains in smoke mode distilled from a tiny teacher
    that sees the student's own augmented view of every batch, exports H5 + JSON, ONNX and
    int8, serves through the app's loader, and its
    multiply-adds, counted from the exported graph, are at most STUDENT_MACS."""
    import json

    from ferapp.learning.cost import multiply_adds
    from ferapp.vision.classifier import load_export
    from tests.helpers import SMOKE, run_script

    arch = "slim"  # the student trained this round (the others: their cost, above)
    out = tmp_path / "student"
    proc = run_script("train.py", *SMOKE, "--epochs", "1", "--arch", arch, "--out", str(out),
                      "--teacher", str(smoke_run), "--teacher-mix", "0.5",
                      "--teacher-temperature", "2", "--teacher-view", "augmented")
    assert proc.returncode == 0, proc.stderr[-2000:]
    config = json.loads((out / "training.json").read_text())["config"]
    assert (config["arch"], config["teacher_view"]) == (arch, "augmented")
    assert not (out / "teacher_targets.npz").exists()  # no clean targets computed once
    for name in ("model.json", "model_weights.h5", "model.onnx", "model.int8.onnx"):
        assert (out / name).is_file(), name
    assert multiply_adds(out / "model.onnx") <= STUDENT_MACS
    assert multiply_adds(out / "model.int8.onnx") == multiply_adds(out / "model.onnx")
    served = load_export(out)
    assert served.runtime == "int8"
    faces = np.random.default_rng(0).integers(0, 256, (3, 48, 48), dtype=np.uint8)
    probs = served.predict_scores(faces)
    assert probs.shape == (3, 7) and np.allclose(probs.sum(1), 1, atol=1e-3)


def test_the_multiply_adds_are_counted_from_the_graph(tmp_path):
    """The shipped network's 289 M (by hand: its convolutions and dense layers), and a
    separable student's depthwise convolutions counted per group."""
    from ferapp.learning.cost import multiply_adds
    from tests.helpers import ROOT

    convs = [(48, 1, 32), (48, 32, 32), (24, 32, 64), (24, 64, 64), (12, 64, 256),
             (12, 256, 256), (6, 256, 512), (6, 512, 512)]
    by_hand = sum(s * s * 9 * cin * cout for s, cin, cout in convs)
    by_hand += 3 * 3 * 512 * 256 + 256 * 256 + 256 * 7
    assert multiply_adds(ROOT / "model.onnx") == by_hand == 288_564_992
    files = export_artifacts(build_model("sepwide"), tmp_path)
    separable = multiply_adds(files["onnx"])
    assert 30e6 < separable < 40e6  # 9 per channel + 1x1 across, not 9 x C_in per output
