"""train.py's one-line errors for bad options, folders and weights (before Keras starts)."""


import pytest

from tests.helpers import run_script

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("args, message", [
    (["--min-recall", "0.4", "--bias-floors", "0.69"], "--bias-floors takes two accuracies"),
    (["--min-recall", "0.4", "--bias-floors", "0.69,x"], "--bias-floors takes two accuracies"),
    (["--min-recall", "0.4", "--bias-floors", "69,76"], "--bias-floors takes two accuracies"),
    (["--bias-floors", "0.69,0.76"], "need --min-recall R > 0"),
    (["--recalibrate"], "need --min-recall R > 0"),
    (["--class-weight", "fear"], "--class-weight takes CLASS=W pairs, e.g. fear=1.5; got 'fear'"),
    (["--class-weight", "fear=1.5,sad=x"], "got 'sad=x'"),
    (["--class-weight", "feer=1.5"], "--class-weight: unknown class 'feer'; classes: angry,"),
    (["--class-weight", "fear=-1"], "--class-weight: every weight must be above 0"),
    (["--photo-aug", "1.5"], "--photo-aug must be between 0 and 1"),
    (["--mixup", "-0.2"], "--mixup takes a Beta parameter between 0 (off) and 100"),
    (["--mixup", "nan"], "--mixup takes a Beta parameter between 0 (off) and 100"),
])
def test_bad_bias_weight_and_augmentation_options_are_one_line_errors(tmp_path, args, message):
    bad = run_script("train.py", "--out", str(tmp_path / "r"), *args)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert message in bad.stderr.strip().splitlines()[-1]


def test_recalibrate_without_uncalibrated_export_is_one_line_error(tmp_path, data_dir):
    bad = run_script("train.py", "--smoke", "64", "--out", str(tmp_path), "--recalibrate",
                     "--min-recall", "0.4")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines()[-1] == (
        f"train.py: error: {tmp_path / 'uncalibrated'} holds no uncalibrated export "
        "(model.json); train with --min-recall to write one")


def test_soft_target_without_votes_file_is_one_line_error(tmp_path, data_dir):
    proc = run_script("train.py", "--smoke", "64", "--epochs", "1", "--out", str(tmp_path / "r"),
                      "--target-mix", "0.5", "--votes", str(tmp_path / "nope.csv"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        f"train.py: error: FER+ votes file {tmp_path / 'nope.csv'} not found (see README, 'Data')")


@pytest.mark.parametrize("script, args, message", [
    ("train.py", ["--data", "/nonexistent/fer"], "no folder /nonexistent/fer/train"),
    ("evaluate.py", ["--data", "/nonexistent/fer"], "no folder /nonexistent/fer/test"),
])
def test_missing_data_folder_is_one_line_error(script, args, message):
    proc = run_script(script, *args)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith(f"{script}: error: {message}")
    assert "Traceback" not in proc.stderr


def test_init_from_missing_weights_is_one_line_error(tmp_path, data_dir):
    (tmp_path / "empty").mkdir()
    bad = run_script("train.py", "--smoke", "64", "--epochs", "1", "--out", str(tmp_path / "r"),
                     "--init", str(tmp_path / "empty"))
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines()[-1] == (
        f"train.py: error: no weights file at {tmp_path / 'empty' / 'model_weights.h5'}")
    assert "Traceback" not in bad.stderr and not (tmp_path / "r").exists()
