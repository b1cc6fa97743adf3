"""Weight averaging: the mean of the last epochs' weights, with batch-norm statistics
recomputed on Training, exported when it beats the best checkpoint on PublicTest."""

from __future__ import annotations

import logging
from pathlib import Path

import keras
import numpy as np

from ferapp.learning.callbacks import PublicTestScores
from ferapp.learning.config import TrainConfig

log = logging.getLogger(__name__)


def recompute_bn_statistics(model, x: np.ndarray, batch_size: int = 128,
                            max_batches: int = 200, seed: int = 0):
    """Set every BatchNormalization layer's moving mean/variance to the plain average over
    up to ``max_batches`` batches of ``x`` (needed after averaging weights: the averaged
    network's activations have other statistics than any of its parents')."""
    bns = [layer for layer in model.layers
           if isinstance(layer, keras.layers.BatchNormalization)]
    saved = [layer.momentum for layer in bns]
    order = np.random.default_rng(seed).permutation(len(x))
    try:
        for k, i in enumerate(range(0, min(len(x), max_batches * batch_size), batch_size)):
            for layer in bns:  # cumulative average: weight 1/(k+1) for the k-th batch
                layer.momentum = k / (k + 1)
            model(x[order[i:i + batch_size], ..., None].astype("float32"), training=True)
    finally:
        for layer, m in zip(bns, saved, strict=True):
            layer.momentum = m


def mean_weights(weight_sets) -> list[np.ndarray]:
    """The element-wise mean (float32, summed in float64) of several lists of weight
    arrays, as ``model.get_weights()`` gives them; ValueError when their shapes differ."""
    total, count = None, 0
    for weights in weight_sets:
        w = [np.asarray(v, dtype="float64") for v in weights]
        if total is not None and [a.shape for a in w] != [a.shape for a in total]:
            raise ValueError("the weights to average have different shapes")
        total = w if total is None else [a + b for a, b in zip(total, w, strict=True)]
        count += 1
    return [(t / count).astype("float32") for t in total]


def average_weights(model, files: list[Path]):
    """Load the element-wise mean of several weight files of ``model``'s architecture."""
    def loaded(f):
        model.load_weights(f)
        return model.get_weights()

    model.set_weights(mean_weights(loaded(f) for f in files))


def choose_average(model, cfg: TrainConfig, out: Path, best_score: float,
                   x_train: np.ndarray, public: PublicTestScores) -> dict | None:
    """Try the averages of the last 2..cfg.average_last epochs; keep the best on PublicTest
    if it beats the best checkpoint (``model`` then holds it). Returns what was tried."""
    snaps = sorted((out / "snapshots").glob("epoch-*.weights.h5"))
    if cfg.average_last < 2 or len(snaps) < 2:
        return None
    best_w, tried, chosen = model.get_weights(), [], None
    for k in range(2, min(cfg.average_last, len(snaps)) + 1):
        files = snaps[-k:]
        average_weights(model, files)
        recompute_bn_statistics(model, x_train, seed=cfg.seed)
        logs = public.scores(model)
        row = {"epochs": [int(f.name[6:9]) for f in (files[0], files[-1])],
               **{key: round(float(logs[key]), 4) for key in
                  ("val_accuracy", "val_accuracy_ferplus", "val_score") if key in logs}}
        tried.append(row)
        log.info("average of epochs %d-%d: PublicTest %s", *row["epochs"], row)
        if logs["val_score"] > best_score:
            best_score, best_w, chosen = logs["val_score"], model.get_weights(), row
    model.set_weights(best_w)
    return {"tried": tried, "chosen": chosen}
