"""Shared fixtures: the data folder, a tiny exported model, the shipped model, real photos
shipped by dependencies."""

from __future__ import annotations

import csv
import os
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import pytest

from ferapp.learning import data as fer_data
from ferapp.learning.export import export_artifacts
from ferapp.vision.classifier import FacialExpressionModel
from ferapp.vision.intake import decode_image
from tests.helpers import BLANK, DEVSET, FRAMES, ROOT, demo_app, missing

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    d = fer_data.default_data_dir()
    if not (d / "test").is_dir():
        missing(f"FER-2013 at {d} (--data DIR or FER_DATA)")
    return d


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A small random model exported with the real export helper (Keras + ONNX)."""
    import keras  # here, not at the top: most tests never start TensorFlow

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
def two_exports(tiny_model_dir, tmp_path_factory) -> list[Path]:
    """Two exports for ensembles: the tiny model and a copy of it with other weights."""
    import keras

    other = tmp_path_factory.mktemp("other")
    model = keras.models.model_from_json((tiny_model_dir / "model.json").read_text())
    model.load_weights(tiny_model_dir / "model_weights.h5")
    model.set_weights([w * 1.5 + 0.01 for w in model.get_weights()])
    export_artifacts(model, other, training={"note": "a second teacher"})
    return [tiny_model_dir, other]


@pytest.fixture(scope="session")
def grace_hopper() -> np.ndarray:
    """A real photo of a face (BGR) that matplotlib ships."""
    import matplotlib.cbook

    path = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    img = cv2.imread(str(path))
    assert img is not None
    return img


@pytest.fixture(scope="session")
def shipped_model():
    """The real trained model at the repository root."""
    return FacialExpressionModel(ROOT / "model.json", ROOT / "model_weights.h5")


@pytest.fixture(scope="session")
def grace_hopper_path() -> Path:
    import matplotlib.cbook

    return Path(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))


@pytest.fixture(scope="module")
def app(shipped_model):
    with demo_app(shipped_model) as app:
        yield app


@pytest.fixture(scope="module")
def clip(tmp_path_factory, grace_hopper):
    """640x480, 10 fps: the photo drifting right by 4 px a frame; frame 5 is blank."""
    path = tmp_path_factory.mktemp("clip") / "interview.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (640, 480))
    face = cv2.resize(grace_hopper, (300, 352))
    for i in range(FRAMES):
        frame = np.full((480, 640, 3), 50, np.uint8)
        if i not in BLANK:
            frame[60:412, 100 + 4 * i:400 + 4 * i] = face
        writer.write(frame)
    writer.release()
    return path


@pytest.fixture(scope="module")
def devset():
    if not (DEVSET / "photos" / "boxes.csv").is_file():
        missing(f"the dev set at {DEVSET} (FER_DEVSET)")
    boxes = defaultdict(list)
    with open(DEVSET / "photos" / "boxes.csv") as f:
        for r in csv.DictReader(f):
            boxes[r["file"]].append((tuple(int(r[k]) for k in "xywh"), r["kind"]))

    def load(name):
        image = decode_image((DEVSET / "photos" / name).read_bytes(), work_side=None).image
        return image, [b for b, k in boxes[name] if k == "frontal"]

    return load
