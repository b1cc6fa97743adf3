"""The training code runs on other Keras backends (GPU machines often lack TensorFlow)."""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="PyTorch not installed")
def test_train_smoke_on_torch_backend(tmp_path, data_dir):
    out = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "train.py", "--smoke", "128", "--epochs", "1", "--batch-size", "32",
         "--out", str(out), "--target-mix", "0.5", "--erase", "0.5", "--optimizer", "adamw",
         "--weight-decay", "0.01"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
        env={**os.environ, "KERAS_BACKEND": "torch", "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    training = json.loads((out / "training.json").read_text())
    assert training["backend"] == "torch"
    assert training["config"]["target_mix"] == 0.5  # soft FER+ targets on torch too
    assert training["best_public_accuracy_ferplus"] is not None
    # the architecture written on torch names no torch optimizer and loads on the default
    config = json.loads((out / "model.json").read_text())
    assert "compile_config" not in config
    from model import FacialExpressionModel

    model = FacialExpressionModel(out / "model.json", out / "model_weights.h5", runtime="keras")
    import numpy as np

    assert model.predict_scores(np.zeros((2, 48, 48), np.uint8)).shape == (2, 7)
