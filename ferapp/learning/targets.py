"""Training targets: one-hot labels mixed with the FER+ vote distribution, and a teacher's
softened predictions (distillation)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ferapp.labels import EMOTIONS, per_class
from ferapp.learning import ferplus
from ferapp.learning.class_bias import apply_class_bias, recorded_class_bias
from ferapp.learning.metrics import predict
from ferapp.vision.classifier import load_keras_model, weights_file


def make_targets(y: np.ndarray, votes: np.ndarray | None, mix: float) -> np.ndarray:
    """(N, 7) float targets: one-hot labels mixed with the FER+ vote distribution.

    ``mix`` is the FER+ share (0: one-hot only, 1: FER+ only); rows without usable votes
    keep their one-hot target.
    """
    onehot = np.eye(len(EMOTIONS), dtype="float32")[y]
    if not mix or votes is None:
        return onehot
    dist, ok = ferplus.vote_distribution(votes)
    out = onehot.copy()
    out[ok] = (1 - mix) * onehot[ok] + mix * dist[ok]
    return out


def sample_weights(y: np.ndarray, class_weight: dict[str, float] | None) -> np.ndarray | None:
    """Per-face loss weights (N,) from a weight per class of the original label ``y``
    (classes not named weigh 1), scaled to a mean of 1 so that the learning rate means
    what it did; None without class weights. ValueError for an unknown class or a weight
    that is not positive."""
    if not class_weight:
        return None
    weights = np.array(per_class(class_weight, 1.0), dtype="float32")
    if not np.all(weights > 0):
        raise ValueError("class weights must be above 0")
    w = weights[np.asarray(y)]
    return (w / w.mean()).astype("float32")


def teacher_probs(teacher: str | Path, faces: np.ndarray, temperature: float = 1.0,
                  batch_size: int = 256) -> np.ndarray:
    """(N, 7) soft targets from a trained export for uint8 faces (N, 48, 48).

    The teacher's log-probabilities of each face and its mirror image are averaged, the
    class bias its export was calibrated with is taken out (the network as it learned),
    and ``temperature`` > 1 softens the distribution: p ∝ exp(mean log p / T).
    """
    weights = weights_file(teacher)
    model = load_keras_model(weights.parent / "model.json", weights)
    bias = recorded_class_bias(weights)
    if bias is not None:
        apply_class_bias(model, -bias)
    eps = 1e-7
    log_p = (np.log(predict(model, faces, batch_size) + eps)
             + np.log(predict(model, faces[:, :, ::-1], batch_size) + eps)) / 2
    return _normalised(log_p / temperature)


def soften(p: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Probabilities ``p`` (N, 7) softened with ``temperature``: p ∝ p^(1/T)."""
    return _normalised(np.log(p + 1e-7) / temperature)


def _normalised(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z)
    return (p / p.sum(axis=1, keepdims=True)).astype("float32")


def mix_teacher(targets: np.ndarray, teacher: np.ndarray | None, share: float) -> np.ndarray:
    """``share`` of every target row from the teacher, the rest from ``targets``."""
    if teacher is None or not share:
        return targets
    return ((1 - share) * targets + share * teacher).astype("float32")


class ViewTeacher:
    """Consistent teaching (Beyer et al. 2021, "a good teacher is patient and consistent"):
    the teachers see each training face as the student sees it, augmented and mixed, batch
    after batch, instead of once un-augmented. Their probabilities (each export's class
    bias taken out, averaged over the teachers, softened by ``temperature``) take ``share``
    of every target. Runs the teachers' served ONNX files (int8 where exported)."""

    def __init__(self, teachers, temperature: float, share: float):
        from ferapp.vision.classifier import load_export

        paths = [teachers] if isinstance(teachers, (str, Path)) else list(teachers)
        self.models = [load_export(weights_file(t).parent, flip_tta=False) for t in paths]
        self.bias = [recorded_class_bias(weights_file(t)) for t in paths]
        self.temperature, self.share = temperature, share

    def probs(self, faces: np.ndarray) -> np.ndarray:
        """The teachers' softened probabilities (N, 7) of faces (N, 48, 48) as given."""
        mean = 0
        for model, bias in zip(self.models, self.bias, strict=True):
            log_p = np.log(model.predict_scores(faces) + 1e-7)
            mean = mean + _normalised(log_p - (0 if bias is None else bias))
        return soften(mean / len(self.models), self.temperature)

    def __call__(self, faces: np.ndarray, targets: np.ndarray) -> np.ndarray:
        return mix_teacher(targets, self.probs(faces), self.share)
