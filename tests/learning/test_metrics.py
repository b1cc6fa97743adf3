"""ferapp.learning.metrics: confusion, per-class metrics and the headline figures."""

import numpy as np
import pytest

from ferapp.learning.metrics import confusion, headline, metrics


def test_metrics_from_confusion():
    y_true = np.array([0, 0, 1, 1, 2, 6])
    y_pred = np.array([0, 1, 1, 1, 2, 0])
    cm = confusion(y_true, y_pred)
    assert cm.shape == (7, 7) and cm.sum() == 6 and cm[0, 1] == 1
    m = metrics(cm)
    assert m["accuracy"] == pytest.approx(4 / 6, abs=1e-4)
    assert m["per_class"]["disgust"]["precision"] == pytest.approx(2 / 3, abs=1e-4)
    assert m["per_class"]["disgust"]["recall"] == 1.0
    assert m["per_class"]["neutral"]["recall"] == 0.0
    assert m["per_class"]["fear"]["recall"] == 1.0
    assert m["per_class"]["sad"]["support"] == 0 and m["per_class"]["sad"]["f1"] == 0


def test_headline_figures_skip_faces_without_a_ferplus_majority():
    y = np.array([0, 0, 1, 2, 3, 3, 4, 5, 6, 6])
    pred = np.array([0, 4, 1, 2, 3, 3, 4, 5, 6, 3])
    fp = np.array([0, 4, -1, 2, 3, 6, -1, 5, 6, 6])  # -1: no FER+ majority
    h = headline(pred, y, fp)
    assert h["accuracy"] == 0.8
    assert h["accuracy_ferplus"] == 0.75  # 6 of the 8 faces with a majority
    assert (h["weakest_class"], h["weakest_recall"]) == ("angry", 0.5)
    assert h["recall"]["neutral"] == 0.5 and h["recall"]["disgust"] == 1.0
    assert headline(pred, y)["accuracy_ferplus"] is None
