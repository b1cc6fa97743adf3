"""A teacher ensemble: several trained exports as one model. Their flip-averaged
probabilities are averaged, as distillation targets (``ensemble_probs``: the networks as
they learned, class bias taken out) or scored as served (``Ensemble``: each export as the
app serves it, every face with its mirror image)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ferapp.labels import EMOTIONS
from ferapp.vision.classifier import (
    TRAINING_NAME,
    ModelLoadError,
    check_export,
    load_export,
    weights_file,
)


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


def ensemble_probs(paths, faces: np.ndarray, temperature: float = 1.0,
                   batch_size: int = 256) -> np.ndarray:
    """(N, 7) distillation targets: the mean of every teacher's flip-averaged probabilities
    (its class bias taken out), softened with ``temperature`` (p ∝ p^(1/T))."""
    from ferapp.learning.targets import soften, teacher_probs  # Keras: only when distilling

    check_members(paths)
    mean = np.mean([teacher_probs(p, faces, 1.0, batch_size) for p in paths], axis=0)
    return soften(mean, temperature)


class Ensemble:
    """Several exports scored as one model: the mean of their served probabilities, each
    face averaged with its mirror image (``predict_scores`` as FacialExpressionModel's)."""

    def __init__(self, paths, runtime: str = "auto"):
        self.paths = [Path(p) for p in paths]
        self.input_size = check_members(self.paths)
        self.members = [load_export(p, runtime=runtime, flip_below=1.0) for p in self.paths]
        self.runtime = "ensemble of " + ", ".join(m.runtime for m in self.members)
        self.flip_tta = True

    def predict_scores(self, faces: np.ndarray) -> np.ndarray:
        return np.mean([m.predict_scores(faces) for m in self.members], axis=0)
