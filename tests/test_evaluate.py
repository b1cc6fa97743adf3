import json
import re

import numpy as np
import pytest

from conftest import ROOT
from evaluate import confusion, evaluate, metrics


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


def readme_accuracy(split: str) -> float:
    text = (ROOT / "README.md").read_text()
    match = re.search(rf"^\| {split} \| [\d,]+ \| ([0-9.]+) \|", text, re.M)
    assert match, f"README has no accuracy row for {split}"
    return float(match.group(1))


@pytest.mark.slow
def test_shipped_model_scores_what_readme_says(data_dir, tmp_path):
    report = evaluate(ROOT, data_dir, "private", tmp_path, tta=False)
    assert report["images"] == 3589
    assert report["accuracy"] == pytest.approx(readme_accuracy("PrivateTest"), abs=0.005)
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["accuracy"] == report["accuracy"] and saved["training"] is not None
    assert saved["split_sizes"] == {"Training": 28709, "PublicTest": 3589, "PrivateTest": 3589}
    assert (tmp_path / "confusion_matrix.png").read_bytes()[:4] == b"\x89PNG"
    rows = (tmp_path / "confusion_matrix.csv").read_text().splitlines()
    assert len(rows) == 8 and rows[0].startswith("true\\predicted,angry")
