"""Which model serves: one export, or several exports served as one ensemble (the mean of
their probabilities, every face with its mirror image); the shipped model unless
$FER_MODEL_DIR or a ``--model-dir`` names others.

``FER_MODEL_DIR=runs/a:runs/b`` (folders joined like PATH, ``os.pathsep``) or
``analyze.py --model-dir runs/a runs/b`` serves an ensemble: more accurate on the FER+
labels, at the cost of each member (docs/model.md measures it), so meant for offline
analysis more than for the live stream.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ferapp.labels import EMOTIONS
from ferapp.system import REPO_ROOT
from ferapp.vision.classifier import (
    FLIP_BELOW,
    TRAINING_NAME,
    ModelLoadError,
    check_export,
    load_export,
    weights_file,
)

MODEL_DIR_ENV = "FER_MODEL_DIR"


def export_labels(folder: str | Path) -> list[str]:
    """The label order an export records in its training.json (this project's canonical
    order when it records none: every export of this project uses it)."""
    training = weights_file(folder).parent / TRAINING_NAME
    try:
        labels = json.loads(training.read_text()).get("labels") if training.is_file() else None
    except (OSError, ValueError, AttributeError):
        raise ModelLoadError(f"{training} is not valid JSON") from None
    return list(labels) if labels else list(EMOTIONS)


def check_members(paths) -> int:
    """The shared input size of the exports at ``paths``; ModelLoadError naming the first
    problem: a missing or unreadable export, another label order, other input sizes."""
    if not paths:
        raise ModelLoadError("an ensemble needs at least one export")
    sizes = {}
    for p in paths:
        sizes[str(p)] = check_export(p)
        labels = export_labels(p)
        if labels != list(EMOTIONS):
            raise ModelLoadError(f"{p} lists its labels in another order ({', '.join(labels)}); "
                                 f"an ensemble needs {', '.join(EMOTIONS)}")
    if len(set(sizes.values())) > 1:
        raise ModelLoadError("the exports take different input sizes: " + ", ".join(
            f"{p} {s}x{s}" for p, s in sizes.items()))
    return next(iter(sizes.values()))


class Ensemble:
    """Several exports scored as one model: the mean of their served probabilities, each
    face averaged with its mirror image (the interface of FacialExpressionModel)."""

    EMOTIONS = EMOTIONS

    def __init__(self, paths, runtime: str = "auto"):
        self.paths = [Path(p) for p in paths]
        self.input_size = check_members(self.paths)
        self.members = [load_export(p, runtime=runtime, flip_below=1.0) for p in self.paths]
        self.runtime = "ensemble of " + ", ".join(m.runtime for m in self.members)
        self.flip_tta = True

    def predict_scores(self, faces: np.ndarray) -> np.ndarray:
        return np.mean([m.predict_scores(faces) for m in self.members], axis=0)

    def predict_emotion(self, face: np.ndarray) -> str:
        return EMOTIONS[int(np.argmax(self.predict_scores(face)[0]))]


def model_dirs(dirs=None) -> list[Path]:
    """The export folders to serve: ``dirs`` (one folder or several), else those
    $FER_MODEL_DIR lists (``os.pathsep``-joined), else the shipped model's."""
    if dirs is None:
        dirs = [d for d in os.environ.get(MODEL_DIR_ENV, "").split(os.pathsep) if d]
    elif isinstance(dirs, (str, Path)):
        dirs = [dirs]
    return [Path(d) for d in dirs] or [REPO_ROOT]


def load_model(dirs=None, runtime: str = "auto", flip_tta: bool = True,
               flip_below: float = FLIP_BELOW):
    """The model of one export folder, or an Ensemble of several (see ``model_dirs``)."""
    paths = model_dirs(dirs)
    if len(paths) == 1:
        return load_export(paths[0], runtime=runtime, flip_tta=flip_tta, flip_below=flip_below)
    return Ensemble(paths, runtime=runtime)


def default_model(dirs=None):
    """The served model (``load_model``) with the runtime settings of the environment:
    $FER_RUNTIME picks the runtime, FER_FLIP_TTA=0 turns the flip test-time augmentation
    off, FER_FLIP_BELOW sets its gate (an ensemble flips every face)."""
    return load_model(dirs, runtime=os.environ.get("FER_RUNTIME", "auto"),
                      flip_tta=os.environ.get("FER_FLIP_TTA", "1") != "0",
                      flip_below=float(os.environ.get("FER_FLIP_BELOW", FLIP_BELOW)))
