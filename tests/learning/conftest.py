"""Fixtures of the learning tests: one finished smoke run of train.py, shared."""

import json

import pytest

from tests.helpers import SMOKE, run_script


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory, data_dir):
    """One finished 1-epoch smoke run that keeps its snapshot (read only: copy it to continue
    it)."""
    out = tmp_path_factory.mktemp("smoke") / "run"
    first = run_script("train.py", *SMOKE, "--epochs", "1", "--snapshots", "--out", str(out))
    assert first.returncode == 0, first.stderr[-2000:]
    assert json.loads((out / "state.json").read_text())["epochs_done"] == 1
    return out
