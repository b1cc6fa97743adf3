"""The training notebook runs headless, in smoke mode, and exports a model the app loads."""

import hashlib
import os

import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.slow


def _digest(paths):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths if p.exists()}


def test_notebook_runs_headless_in_smoke_mode(tmp_path, data_dir):
    import nbformat
    from nbclient import NotebookClient

    shipped = [ROOT / n for n in ("model.json", "model_weights.h5", "model.onnx",
                                  "training.json")]
    before = _digest(shipped)
    nb = nbformat.read(ROOT / "notebooks" / "train_fer2013.ipynb", as_version=4)
    env = {"FER_NOTEBOOK_SMOKE": "1", "FER_NOTEBOOK_OUT": str(tmp_path / "run")}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        NotebookClient(nb, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
    finally:
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    export = tmp_path / "run" / "export"
    assert (export / "model.json").exists() and (export / "model_weights.h5").exists()
    # the export is one the app serves: it loads and gives probabilities
    import numpy as np

    from ferapp.vision.classifier import load_export

    model = load_export(export)
    probs = model.predict_scores(np.full((2, 48, 48), 128, np.uint8))
    assert probs.shape == (2, 7) and np.allclose(probs.sum(1), 1, atol=1e-3)
    assert _digest(shipped) == before  # the shipped model is never overwritten
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 4  # sample grid, class counts, augmented batch, live plot
