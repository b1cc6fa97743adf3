"""evaluate.py's one-line errors for bad votes files and missing model files."""


import pytest

from tests.helpers import run_script

pytestmark = pytest.mark.slow


def test_evaluate_with_malformed_votes_is_one_line_error(tmp_path, data_dir):
    bad = tmp_path / "votes.csv"
    bad.write_text("split,file,neutral\nTraining,x.jpg,10\n")
    proc = run_script("evaluate.py", "--votes", str(bad), "--split", "public",
                      "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith(
        f"evaluate.py: error: {bad} lacks the column(s) happiness")


def test_evaluate_with_missing_model_files(tmp_path, data_dir):
    proc = run_script("evaluate.py", "--model-dir", str(tmp_path), "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "model file" in proc.stderr and "not found" in proc.stderr
