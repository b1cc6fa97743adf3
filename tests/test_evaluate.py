import json
import re

import numpy as np
import pytest

from conftest import ROOT
from evaluate import confusion, evaluate, headline, metrics


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
    """The int8 copy must not drift from the fp32 model it was quantised from (e.g. on a
    CPU whose integer kernels saturate): same top-1 on >= 97 % of PublicTest faces."""
    import fer_data
    from model import FacialExpressionModel

    x, _ = fer_data.load_split(data_dir, "public")
    files = ROOT / "model.json", ROOT / "model_weights.h5"
    fp32 = FacialExpressionModel(*files, runtime="onnx", flip_tta=False)
    int8 = FacialExpressionModel(*files, runtime="int8", flip_tta=False)
    a = np.concatenate([fp32.predict_scores(x[i:i + 512]) for i in range(0, len(x), 512)])
    b = np.concatenate([int8.predict_scores(x[i:i + 512]) for i in range(0, len(x), 512)])
    assert (a.argmax(1) == b.argmax(1)).mean() >= 0.97
    assert np.abs(a - b).mean() < 0.02


def run_bench_peers(*args):
    import os
    import subprocess
    import sys

    return subprocess.run([sys.executable, "bench/bench_peers.py", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})


@pytest.mark.slow
def test_peer_bench_prints_what_readme_says(data_dir):
    """The README's comparison with the `fer` package is what bench_peers.py prints now."""
    proc = run_bench_peers("--data", str(data_dir))
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [line for line in proc.stdout.splitlines() if line.startswith(("public", "private"))]
    assert len(rows) == 6 and any("fer 25.10.3" in r for r in rows)
    readme = (ROOT / "README.md").read_text().splitlines()
    number = re.compile(r"\d\.\d{3,4}")
    for row in rows:
        label = row[:46].rstrip()  # split and model name
        shown = [line for line in readme if line.startswith(label + " ")]
        assert len(shown) == 1, f"README shows no bench_peers row for {label!r}"
        assert [float(v) for v in number.findall(shown[0])] == pytest.approx(
            [float(v) for v in number.findall(row)], abs=0.005)
    fer_private = next(r for r in rows if r.startswith("private") and "fer" in r)
    ours_private = next(r for r in rows if r.startswith("private") and "served" in r)
    assert float(number.findall(ours_private)[0]) > float(number.findall(fer_private)[0])


def test_peer_bench_without_fer_weights_is_one_line_error(tmp_path):
    proc = run_bench_peers("--fer-model", str(tmp_path / "none.hdf5"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        f"bench_peers.py: error: no fer weights file at {tmp_path / 'none.hdf5'}")
