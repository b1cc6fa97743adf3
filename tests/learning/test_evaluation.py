"""ferapp.learning.evaluation: the shipped model scores what the README says; int8 agrees with
fp32."""

import json
import re

import numpy as np
import pytest

from ferapp.learning.evaluation import evaluate
from tests.helpers import ROOT


def readme_accuracy(split: str, labels: str) -> float:
    text = (ROOT / "README.md").read_text()
    match = re.search(rf"^\| {split} \| {re.escape(labels)} \| [\d,]+ \| ([0-9.]+) \|", text, re.M)
    assert match, f"README has no accuracy row for {split}, {labels}"
    return float(match.group(1))


@pytest.mark.slow
def test_shipped_model_scores_what_readme_says(data_dir, tmp_path):
    report = evaluate(ROOT, data_dir, ("public", "private"), tmp_path)  # as served
    assert report["runtime"] == "int8" and report["hflip_tta"] is True
    private = report["splits"]["PrivateTest"]
    assert private["images"] == 3589
    assert private["original"]["accuracy"] == pytest.approx(
        readme_accuracy("PrivateTest", "original"), abs=0.005)
    assert private["ferplus"]["accuracy"] == pytest.approx(
        readme_accuracy("PrivateTest", "FER+ majority"), abs=0.005)
    public = report["splits"]["PublicTest"]
    assert public["original"]["accuracy"] == pytest.approx(
        readme_accuracy("PublicTest", "original"), abs=0.005)
    assert public["ferplus"]["accuracy"] == pytest.approx(
        readme_accuracy("PublicTest", "FER+ majority"), abs=0.005)
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["splits"]["PrivateTest"]["original"] == private["original"]
    assert saved["training"] is not None
    assert saved["split_sizes"] == {"Training": 28709, "PublicTest": 3589, "PrivateTest": 3589}
    for split in ("public", "private"):
        for labels in ("original", "ferplus"):
            stem = tmp_path / f"confusion_{split}_{labels}"
            assert stem.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"
            rows = stem.with_suffix(".csv").read_text().splitlines()
            assert len(rows) == 8 and rows[0].startswith("true\\predicted,angry")
    # the FER+ confusion matrix counts only the images with a clear majority
    assert private["ferplus"]["images"] + private["ferplus"]["left_out"] == 3589
    assert private["ferplus"]["images"] == sum(
        m["support"] for m in private["ferplus"]["per_class"].values())


@pytest.mark.slow
def test_shipped_int8_model_agrees_with_fp32_on_real_faces(data_dir):
    """The int8 copy must not drift from the fp32 model it was quantised from, on any CPU:
    7-bit weights keep the integer kernels of CPUs without int8 dot products (AVX2) from
    saturating (full-range weights agreed on 94 % there): same top-1 on >= 97 % of
    PublicTest faces."""
    from ferapp.learning import data as fer_data
    from ferapp.vision.classifier import FacialExpressionModel

    x, _ = fer_data.load_split(data_dir, "public")
    files = ROOT / "model.json", ROOT / "model_weights.h5"
    fp32 = FacialExpressionModel(*files, runtime="onnx", flip_tta=False)
    int8 = FacialExpressionModel(*files, runtime="int8", flip_tta=False)
    a = np.concatenate([fp32.predict_scores(x[i:i + 512]) for i in range(0, len(x), 512)])
    b = np.concatenate([int8.predict_scores(x[i:i + 512]) for i in range(0, len(x), 512)])
    assert (a.argmax(1) == b.argmax(1)).mean() >= 0.97
    assert np.abs(a - b).mean() < 0.02
