"""The per-class output bias: chosen on PublicTest as served (int8, flip TTA) so that every
class's recall and both accuracies clear their floors, written into the softmax layer's
bias, recorded in training.json, and taken out again to continue training or distil."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from ferapp.labels import EMOTIONS
from ferapp.learning.callbacks import PublicTestScores
from ferapp.learning.metrics import predict
from ferapp.vision.classifier import (
    INT8_NAME,
    TRAINING_NAME,
    WEIGHTS_NAME,
    load_export,
    weights_file,
)

log = logging.getLogger(__name__)


def tune_class_bias(log_probs: np.ndarray, y: np.ndarray, ferplus_y: np.ndarray | None,
                    min_recall: float, steps: np.ndarray | None = None,
                    rounds: int = 4, floors: tuple[float, float] | None = None
                    ) -> tuple[np.ndarray, dict]:
    """A per-class bias for the log-probabilities (coordinate search on PublicTest).

    Objective without ``floors``: the mean of the accuracy on the original labels and on
    the FER+ majority (original only without votes), minus a steep penalty for each point
    the weakest class's recall (original labels) falls short of ``min_recall``.

    With ``floors`` = (original, FER+) accuracy floors, the targets: every figure should
    clear its floor (each class's recall clears ``min_recall``) with the widest margin,
    each margin counted in standard errors of a proportion at its floor,
    (value - floor) / sqrt(floor (1 - floor) / n), so a class of 500 faces needs a wider
    margin than an accuracy over 3,500. The search maximises a soft minimum of the
    margins (log-sum-exp, temperature 0.25), which moves all of them, not only the worst.
    ``steps``: the values tried for each class's bias (default -1.5 to 1.5 by 0.1).
    Returns the bias and the PublicTest figures before and after.
    """
    steps = np.linspace(-1.5, 1.5, 31) if steps is None else steps
    keep = ferplus_y >= 0 if ferplus_y is not None else None
    counts = np.array([max(1, (y == c).sum()) for c in range(len(EMOTIONS))])

    def se(floor, n):
        return np.sqrt(max(floor * (1 - floor), 1e-6) / n)

    def figures(bias):
        pred = (log_probs + bias).argmax(1)
        rec = np.array([((pred == c) & (y == c)).sum() for c in range(len(EMOTIONS))]) / counts
        acc = float((pred == y).mean())
        fp = float((pred[keep] == ferplus_y[keep]).mean()) if keep is not None else None
        if floors is None:
            mean = acc if fp is None else (acc + fp) / 2
            return mean - 2.0 * max(0.0, min_recall - rec.min()), acc, fp, rec
        z = [(acc - floors[0]) / se(floors[0], len(y))]
        if fp is not None:
            z.append((fp - floors[1]) / se(floors[1], int(keep.sum())))
        z.extend((rec - min_recall) / np.array([se(min_recall, n) for n in counts]))
        z = np.array(z)
        return float(-0.25 * np.log(np.exp(-z / 0.25).sum())), acc, fp, rec

    bias = np.zeros(len(EMOTIONS))
    best = figures(bias)[0]
    for _ in range(rounds):
        for c in range(len(EMOTIONS)):
            for d in steps:
                trial = bias.copy()
                trial[c] = d
                value = figures(trial)[0]
                if value > best + 1e-9:
                    best, bias = value, trial
    report = {"min_recall": min_recall, "bias": [round(float(b), 3) for b in bias],
              "objective": "mean" if floors is None else
              {"accuracy_floors": list(floors), "margin": "soft minimum, standard errors"},
              "before": _figures_report(*figures(np.zeros(len(EMOTIONS)))[1:]),
              "after": _figures_report(*figures(bias)[1:])}
    return bias, report


def _figures_report(acc: float, fp: float | None, rec: np.ndarray) -> dict:
    return {"accuracy": round(acc, 4), "accuracy_ferplus": None if fp is None else round(fp, 4),
            "weakest_recall": round(float(rec.min()), 4),
            "weakest_class": EMOTIONS[int(rec.argmin())]}


def apply_class_bias(model, bias: np.ndarray, layer: str = "emotion"):
    """Add ``bias`` to the logits of the softmax layer (its Dense bias): p_c ∝ p_c e^{b_c}."""
    dense = model.get_layer(layer)
    kernel, old = dense.get_weights()
    dense.set_weights([kernel, old + bias.astype(old.dtype)])



def calibrate(model, export: Path, public: PublicTestScores, min_recall: float,
              floors: tuple[float, float] | None = None) -> dict:
    """Choose the class bias on PublicTest (``min_recall``, ``floors``: see
    tune_class_bias) for the predictions as served from ``export``, the model's export (its
    int8 copy when it has one, flip TTA), and apply it to ``model``; return the report."""
    served = load_export(export, flip_tta=True)
    probs = predict(served, public.x)
    bias, report = tune_class_bias(np.log(np.clip(probs, 1e-9, 1)), public.y, public.fp,
                                   min_recall, floors=tuple(floors) if floors else None)
    apply_class_bias(model, bias)
    report["scored_with"] = f"{served.runtime}, flip TTA"
    log.info("class bias %s (%s): PublicTest %s -> %s", report["bias"],
             report["scored_with"], report["before"], report["after"])
    return report


def int8_bias(export_dir: str | Path, calibration: dict | None):
    """(the uncalibrated int8 file, the chosen bias) for export_artifacts, or None."""
    if not calibration:
        return None
    return Path(export_dir) / "uncalibrated" / INT8_NAME, np.asarray(calibration["bias"])



def recorded_class_bias(weights: str | Path) -> np.ndarray | None:
    """The class bias an export wrote into its weights (training.json beside its
    model_weights.h5, after a --min-recall calibration), or None when it records none
    (checkpoints such as best.weights.h5 never hold one)."""
    weights = weights_file(weights)
    record = weights.parent / TRAINING_NAME
    if weights.name != WEIGHTS_NAME or not record.is_file():
        return None
    bias = (json.loads(record.read_text()).get("class_bias") or {}).get("bias")
    return None if bias is None else np.asarray(bias, dtype="float32")
