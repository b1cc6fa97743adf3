"""ferapp.learning.posthoc through train.py in smoke mode: the model soup (--soup) and the
export of another epoch (--export-epoch); --recalibrate is tested with the calibration in
test_trainer.py."""

import json
import shutil

import pytest

from tests.helpers import SMOKE, run_script

pytestmark = pytest.mark.slow


def test_soup_averages_exports_without_their_class_bias_and_exports_it(tmp_path, smoke_run,
                                                                        tiny_model_dir):
    """train.py --soup: the mean of two exports' weights (the class bias one of them
    records taken out first), calibrated and exported; bad input is one line, exit 2."""
    import numpy as np

    from ferapp.learning.class_bias import apply_class_bias
    from ferapp.learning.export import export_artifacts
    from ferapp.vision.classifier import load_export, load_keras_model

    first = load_keras_model(smoke_run / "model.json", smoke_run / "model_weights.h5")
    other = load_keras_model(smoke_run / "model.json", smoke_run / "model_weights.h5")
    other.set_weights([w * 0.5 for w in first.get_weights()])
    bias = np.array([0.3, -0.2, 0.1, 0.0, -0.1, 0.2, 0.0], dtype="float32")
    apply_class_bias(other, bias)  # served with a class bias that it records
    second = tmp_path / "second"
    export_artifacts(other, second, training={"class_bias": {"bias": bias.tolist()}})

    out = tmp_path / "soup"
    proc = run_script("train.py", *SMOKE, "--soup", str(smoke_run), str(second),
                      "--min-recall", "0.2", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("soup of 2 exports: PublicTest (fp32, no flip) accuracy ")
    before = load_keras_model(out / "uncalibrated" / "model.json",
                              out / "uncalibrated" / "model_weights.h5")
    for layer in before.layers:  # the mean of 1x and 0.5x: 0.75x, bias taken out
        if isinstance(layer, __import__("keras").layers.BatchNormalization):
            continue  # its statistics are recomputed on Training
        for w, w0 in zip(layer.get_weights(), first.get_layer(layer.name).get_weights(),
                         strict=True):
            np.testing.assert_allclose(w, 0.75 * w0, rtol=1e-5, atol=1e-6)
    training = json.loads((out / "training.json").read_text())
    assert [s["path"] for s in training["soup_of"]] == [str(smoke_run), str(second)]
    assert all(len(s["weights_sha256"]) == 64 for s in training["soup_of"])
    assert training["class_bias"]["min_recall"] == 0.2
    assert training["config"]["arch"] == json.loads(
        (smoke_run / "training.json").read_text())["config"]["arch"]
    served = load_export(out, flip_tta=True)  # the soup loads as the app serves it
    probs = served.predict_scores(np.zeros((2, 48, 48), dtype="uint8"))
    assert probs.shape == (2, 7) and np.allclose(probs.sum(axis=1), 1, atol=1e-3)

    for args, says in ((["--soup", str(smoke_run)], "at least two exports"),
                       (["--soup", str(smoke_run), str(tiny_model_dir)], "architecture"),
                       (["--soup", str(smoke_run), str(tmp_path / "nothing")], "nothing"),
                       (["--soup", str(smoke_run), str(second), "--resume"], "trains nothing"),
                       (["--soup", str(smoke_run), str(second), "--export", str(second)],
                        "write over its own export")):
        bad = run_script("train.py", *SMOKE, *args, "--out", str(tmp_path / "bad"))
        assert bad.returncode == 2 and "Traceback" not in bad.stderr, bad.stderr[-1500:]
        line = bad.stderr.strip().splitlines()[-1]
        assert line.startswith("train.py: error: ") and says in line, line
    assert json.loads((second / "training.json").read_text())["class_bias"]["bias"] == \
        bias.tolist()  # the member named as the output was left as it was


def test_export_epoch_exports_that_snapshot_calibrated_and_keeps_the_run(tmp_path, smoke_run):
    """train.py --export-epoch N: the run's snapshot of epoch N, calibrated, exported to
    <out>/epoch-NNN (the run's own export untouched); bad input is one line, exit 2."""
    import numpy as np

    from ferapp.learning.network import build_model
    from ferapp.vision.classifier import load_export, load_keras_model

    run = tmp_path / "run"
    shutil.copytree(smoke_run, run)
    exported_before = (run / "model_weights.h5").read_bytes()
    proc = run_script("train.py", *SMOKE, "--out", str(run), "--export-epoch", "1",
                      "--min-recall", "0.2")
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = run / "epoch-001"
    assert proc.stdout.startswith("epoch 1: PublicTest (fp32, no flip) accuracy ")
    assert proc.stdout.rstrip().endswith(f"exported to {out}")
    training = json.loads((out / "training.json").read_text())
    run_config = json.loads((run / "train_config.json").read_text())
    assert training["best_epoch"] == 1 and "--export-epoch" in training["checkpoint_criterion"]
    assert training["class_bias"]["min_recall"] == 0.2
    assert training["config"]["arch"] == run_config["arch"]  # the run's own settings
    assert training["config"]["seed"] == run_config["seed"]
    snapshot = build_model(run_config["arch"])
    snapshot.load_weights(run / "snapshots" / "epoch-001.weights.h5")
    before = load_keras_model(out / "uncalibrated" / "model.json",
                              out / "uncalibrated" / "model_weights.h5")
    for a, b in zip(before.get_weights(), snapshot.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)  # that epoch's weights, before the class bias
    assert (run / "model_weights.h5").read_bytes() == exported_before
    probs = load_export(out, flip_tta=True).predict_scores(np.zeros((2, 48, 48), "uint8"))
    assert probs.shape == (2, 7) and np.allclose(probs.sum(axis=1), 1, atol=1e-3)

    for args, says in ((["--out", str(run), "--export-epoch", "2"],
                        "the run kept no snapshot of epoch 2"),
                       (["--out", str(tmp_path / "none"), "--export-epoch", "1"],
                        "holds no finished run"),
                       (["--out", str(run), "--export-epoch", "0"], "an epoch from 1"),
                       (["--out", str(run), "--export-epoch", "1", "--resume"],
                        "trains nothing")):
        bad = run_script("train.py", *SMOKE, *args)
        assert bad.returncode == 2 and "Traceback" not in bad.stderr, bad.stderr[-1500:]
        line = bad.stderr.strip().splitlines()[-1]
        assert line.startswith("train.py: error: ") and says in line, line
