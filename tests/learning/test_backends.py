"""The training code on other Keras backends (torch, JAX data parallel): GPU machines often
lack TensorFlow."""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from tests.helpers import ROOT, missing


@pytest.mark.slow
def test_train_smoke_on_torch_backend(tmp_path, data_dir):
    if importlib.util.find_spec("torch") is None:
        missing("PyTorch (.ci/run installs its CPU wheel for this test)")
    out = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "train.py", "--smoke", "128", "--epochs", "1", "--batch-size", "32",
         "--out", str(out), "--target-mix", "0.5", "--erase", "0.5", "--optimizer", "adamw",
         "--weight-decay", "0.01", "--min-recall", "0.2"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
        env={**os.environ, "KERAS_BACKEND": "torch", "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    training = json.loads((out / "training.json").read_text())
    assert training["backend"] == "torch"
    assert training["config"]["target_mix"] == 0.5  # soft FER+ targets on torch too
    assert training["best_public_accuracy_ferplus"] is not None
    # the class bias is tuned on the exported model's served scores on this backend too
    assert training["class_bias"]["scored_with"].endswith(", flip TTA")
    # the architecture written on torch names no torch optimizer and loads on the default
    config = json.loads((out / "model.json").read_text())
    assert "compile_config" not in config
    from ferapp.vision.classifier import FacialExpressionModel

    model = FacialExpressionModel(out / "model.json", out / "model_weights.h5", runtime="keras")
    import numpy as np

    assert model.predict_scores(np.zeros((2, 48, 48), np.uint8)).shape == (2, 7)


FIRST_LOSS = """
import json, sys
import keras

from ferapp.learning.config import TrainConfig
from ferapp.learning.trainer import train

class First(keras.callbacks.Callback):
    loss = None

    def on_train_batch_end(self, batch, logs=None):
        if self.loss is None:
            self.loss = float(logs["loss"])

first = First()
batch, distribute, out = int(sys.argv[1]), sys.argv[2] == "1", sys.argv[3]
cfg = TrainConfig(out_dir=out, epochs=1, batch_size=batch, limit=128, distribute=distribute)
_, summary = train(cfg, callbacks=[first], verbose=0)
print(json.dumps({"loss": first.loss, "devices": summary["devices"],
                  "batch": summary["global_batch_size"]}))
"""


def _first_loss(tmp_path, devices, batch, distribute):
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3",
           "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}",
           "PYTHONPATH": str(ROOT)}
    out = tmp_path / f"d{devices}"
    proc = subprocess.run([sys.executable, "-c", FIRST_LOSS, str(batch),
                           "1" if distribute else "0", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1]), out


@pytest.mark.slow
def test_distribute_on_two_devices_matches_one_device_and_loads_in_the_app(tmp_path, data_dir):
    """--distribute on 2 virtual CPU devices: per-device batch 16 = global 32, the same
    first-step loss as one device at batch 32; the export loads in the app."""
    if importlib.util.find_spec("jax") is None:
        missing("JAX (requirements-dev.txt)")
    two, out = _first_loss(tmp_path, 2, 16, True)
    one, _ = _first_loss(tmp_path, 1, 32, False)
    assert two["devices"] == 2 and two["batch"] == 32 and one["batch"] == 32
    assert abs(two["loss"] - one["loss"]) < 1e-3 * one["loss"], (two, one)
    training = json.loads((out / "training.json").read_text())
    assert training["backend"] == "jax" and training["devices"] == 2
    assert training["effective_learning_rate"] == pytest.approx(2e-3)
    import numpy as np

    from ferapp.vision.classifier import FacialExpressionModel

    model = FacialExpressionModel(out / "model.json", out / "model_weights.h5")
    assert model.predict_scores(np.zeros((2, 48, 48), np.uint8)).shape == (2, 7)


@pytest.mark.slow
def test_distribute_needs_the_jax_backend(tmp_path, data_dir):
    proc = subprocess.run(
        [sys.executable, "train.py", "--smoke", "64", "--epochs", "1", "--distribute",
         "--out", str(tmp_path / "r")], cwd=ROOT, capture_output=True, text=True,
        timeout=300, env={**os.environ, "KERAS_BACKEND": "tensorflow",
                          "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        "train.py: error: --distribute needs the JAX backend: run with KERAS_BACKEND=jax "
        "(pip install jax)")
