"""Shared fixtures: the data folder, a tiny exported model, the shipped model, real photos
shipped by dependencies."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from ferapp.learning import data as fer_data
from tests.helpers import ROOT

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    d = fer_data.default_data_dir()
    if not (d / "test").is_dir():
        pytest.skip(f"FER-2013 not found at {d}")
    return d


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A small random model exported with the real export helper (Keras + ONNX)."""
    import keras

    from ferapp.learning.export import export_artifacts

    keras.utils.set_random_seed(0)
    inputs = keras.Input((48, 48, 1))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(4, 3, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(7, activation="softmax")(x)
    out = tmp_path_factory.mktemp("tiny_model")
    export_artifacts(keras.Model(inputs, outputs), out)
    return out


@pytest.fixture(scope="session")
def grace_hopper() -> np.ndarray:
    """A real photo of a face (BGR) that matplotlib ships."""
    import cv2
    import matplotlib.cbook

    path = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    img = cv2.imread(str(path))
    assert img is not None
    return img


@pytest.fixture(scope="session")
def shipped_model():
    """The real trained model at the repository root."""
    from ferapp.vision.classifier import FacialExpressionModel

    return FacialExpressionModel(ROOT / "model.json", ROOT / "model_weights.h5")


@pytest.fixture(scope="session")
def grace_hopper_path() -> Path:
    import matplotlib.cbook

    return Path(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
