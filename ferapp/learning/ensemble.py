"""The distillation targets of a teacher ensemble: several trained exports' flip-averaged
probabilities, as the networks learned them (class bias taken out), averaged and softened.
Served or scored as one model, an ensemble is ``ferapp.vision.models.Ensemble``."""

from __future__ import annotations

import numpy as np

from ferapp.vision.models import check_members


def ensemble_probs(paths, faces: np.ndarray, temperature: float = 1.0,
                   batch_size: int = 256) -> np.ndarray:
    """(N, 7) distillation targets: the mean of every teacher's flip-averaged probabilities
    (its class bias taken out), softened with ``temperature`` (p ∝ p^(1/T))."""
    from ferapp.learning.targets import soften, teacher_probs  # Keras: only when distilling

    check_members(paths)
    mean = np.mean([teacher_probs(p, faces, 1.0, batch_size) for p in paths], axis=0)
    return soften(mean, temperature)
