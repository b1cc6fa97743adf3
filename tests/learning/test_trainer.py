"""ferapp.learning.trainer through train.py in smoke mode: resume, soft targets, precision,
warm start, distillation."""

import hashlib
import json
import shutil
import subprocess
import sys

import pytest

from tests.helpers import ROOT, SMOKE, run_script

pytestmark = pytest.mark.slow


def test_train_cli_smoke_and_resume_with_more_epochs(tmp_path, smoke_run):
    out = tmp_path / "run"
    shutil.copytree(smoke_run, out)
    again = run_script("train.py", *SMOKE, "--epochs", "2", "--out", str(out), "--resume",
                       "--lr", "3e-4")
    assert again.returncode == 0, again.stderr[-2000:]
    assert "resuming after epoch 1" in again.stderr
    assert "schedule changed from 1 to 2 epochs" in again.stderr
    assert json.loads((out / "state.json").read_text())["epochs_done"] == 2
    assert again.stdout.splitlines()[-1].startswith("2 epochs trained, exported epoch ")
    log_lines = (out / "log.csv").read_text().strip().splitlines()
    assert len(log_lines) == 3  # header + one line per epoch, across both runs
    training = json.loads((out / "training.json").read_text())
    assert training["epochs_done"] == 2 and training["config"]["limit"] == 128


def test_soft_target_smoke_on_default_backend(tmp_path, data_dir):
    out = tmp_path / "run"
    proc = run_script("train.py", "--smoke", "128", "--epochs", "1", "--out", str(out),
                      "--batch-size", "32", "--target-mix", "0.5", "--erase", "0.5",
                      "--photo-aug", "0.5", "--min-recall", "0.2", "--class-weight", "fear=2",
                      "--mixup", "0.2")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "target: 0.50 one-hot + 0.50 FER+ votes" in proc.stderr
    assert "loss weight by original label {'fear': 2.0}" in proc.stderr
    header = (out / "log.csv").read_text().splitlines()[0].split(",")
    assert {"val_accuracy", "val_accuracy_ferplus", "val_score"} <= set(header)
    training = json.loads((out / "training.json").read_text())
    assert training["config"]["target_mix"] == 0.5 and training["config"]["photo_prob"] == 0.5
    assert training["config"]["class_weight"] == {"fear": 2.0}
    assert training["config"]["mixup"] == 0.2
    assert 0 <= training["best_public_accuracy_ferplus"] <= 1
    assert "FER+" in proc.stdout
    bias = training["class_bias"]  # calibrated on PublicTest after training
    assert bias["min_recall"] == 0.2 and len(bias["bias"]) == 7
    # tuned on the scores the app will serve: the int8 export with flip TTA
    assert bias["scored_with"] == "int8, flip TTA"
    assert (out / "model.int8.onnx").is_file()
    # and the model before the bias, for bench/bench_calibration.py
    assert (out / "uncalibrated" / "model.int8.onnx").is_file()
    import numpy as np

    from ferapp.vision.classifier import load_keras_model

    shipped, before = (load_keras_model(d / "model.json", d / "model_weights.h5")
                       for d in (out, out / "uncalibrated"))
    added = (shipped.get_layer("emotion").get_weights()[1]
             - before.get_layer("emotion").get_weights()[1])
    np.testing.assert_allclose(added, bias["bias"], atol=1e-5)
    import onnx  # the int8 file is the uncalibrated one with that bias on its logits

    int8 = onnx.load(str(out / "model.int8.onnx")).graph
    assert "class_bias_add" in [n.name for n in int8.node]
    np.testing.assert_allclose(onnx.numpy_helper.to_array(
        next(t for t in int8.initializer if t.name == "class_bias")), bias["bias"], atol=1e-6)

    # the bias trade-off bench reads that export: one row per objective and split
    bench = run_script("bench/bench_calibration.py", "--model-dir", str(out / "uncalibrated"),
                       "--floors", "0.2", "--accuracy-floors", "0.3,0.35", "--limit", "600")
    assert bench.returncode == 0, bench.stderr[-2000:]
    rows = [line.split() for line in bench.stdout.strip().splitlines()[1:]]
    assert [(r[1], r[2]) for r in rows] == [(o, s) for o in ("none", "mean", "targets")
                                            for s in ("public", "private")]
    for r in rows:  # original and FER+ accuracy, the weakest class and its recall
        assert 0 <= float(r[3]) <= 1 and 0 <= float(r[4]) <= 1
        recalls = dict(zip(r[7::2], map(float, r[8::2]), strict=True))
        assert r[5][:3] in recalls and abs(float(r[6]) - min(recalls.values())) < 0.006
    missing = run_script("bench/bench_calibration.py", "--model-dir", str(tmp_path / "nothing"))
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert missing.stderr.strip().splitlines()[-1].startswith("bench_calibration.py: error: ")

    # choose the bias anew with the targets objective: no training, the same run exported
    again = run_script("train.py", "--smoke", "128", "--out", str(out), "--recalibrate",
                       "--min-recall", "0.2", "--bias-floors", "0.3,0.35")
    assert again.returncode == 0, again.stderr[-2000:]
    assert again.stdout.startswith("class bias [")
    redone = json.loads((out / "training.json").read_text())
    assert redone["class_bias"]["objective"]["accuracy_floors"] == [0.3, 0.35]
    assert redone["config"]["bias_floors"] == [0.3, 0.35] and "recalibrated" in redone
    assert redone["epochs_done"] == training["epochs_done"]  # the run's record is kept
    shipped = load_keras_model(out / "model.json", out / "model_weights.h5")
    for layer in shipped.layers:  # only the last layer's bias moved
        old = before.get_layer(layer.name).get_weights()
        for w, w0 in zip(layer.get_weights(), old, strict=True):
            if layer.name == "emotion" and w.ndim == 1:
                np.testing.assert_allclose(w - w0, redone["class_bias"]["bias"], atol=1e-5)
            else:
                np.testing.assert_array_equal(w, w0)


def test_original_labels_need_no_votes_file(tmp_path, data_dir):
    """Training and evaluation on the original labels work without ferplus_votes.csv."""
    import shutil

    copy = tmp_path / "fer"
    copy.mkdir()
    for sub in ("train", "test"):
        (copy / sub).symlink_to(data_dir / sub)
    out = tmp_path / "run"
    proc = run_script("train.py", "--data", str(copy), "--smoke", "64", "--epochs", "1",
                      "--out", str(out), "--batch-size", "32")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "no FER+ votes" in proc.stderr
    ev = run_script("evaluate.py", "--data", str(copy), "--model-dir", str(out),
                    "--split", "public", "--out", str(tmp_path / "eval"))
    assert ev.returncode == 0, ev.stderr[-2000:]
    assert "no FER+ votes" in ev.stdout
    report = json.loads((tmp_path / "eval" / "report.json").read_text())
    assert report["splits"]["PublicTest"]["ferplus"] is None
    shutil.rmtree(tmp_path / "eval")


def test_mixed_bfloat16_trains_resumes_and_exports_float32(tmp_path, data_dir):
    out = tmp_path / "run"
    # the default architecture: bfloat16 is emulated on CPUs without it (minutes for `wide`)
    args = ["--smoke", "64", "--out", str(out), "--batch-size", "32",
            "--precision", "mixed_bfloat16", "--target-mix", "0.2", "--min-recall", "0.2"]
    first = run_script("train.py", *args, "--epochs", "1")
    assert first.returncode == 0, first.stderr[-2000:]
    again = run_script("train.py", *args, "--epochs", "2", "--resume")
    assert again.returncode == 0, again.stderr[-2000:]
    assert "resuming after epoch 1" in again.stderr
    assert "bfloat16" in (out / "train_config.json").read_text()
    for export in (out, out / "uncalibrated"):  # served files: float32 only
        assert "bfloat16" not in (export / "model.json").read_text()
    training = json.loads((out / "training.json").read_text())
    assert training["config"]["precision"] == "mixed_bfloat16"
    assert training["epochs_done"] == 2
    check = ("import numpy as np; from model import FacialExpressionModel as M; "
             f"d = {str(out)!r}; "
             "k = M(d + '/model.json', d + '/model_weights.h5', runtime='keras'); "
             "o = M(d + '/model.json', d + '/model_weights.h5', runtime='int8'); "
             "f = np.random.default_rng(0).integers(0, 256, (4, 48, 48), dtype=np.uint8); "
             "a, b = k.predict_scores(f), o.predict_scores(f); "
             "assert a.dtype == np.float32 and abs(a.sum(1) - 1).max() < 1e-4, a; "
             "assert abs(a - b).max() < 0.1, (a, b); print('ok')")
    proc = subprocess.run([sys.executable, "-c", check], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.stdout.strip().endswith("ok"), proc.stderr[-2000:]


def test_unknown_precision_is_rejected():
    bad = run_script("train.py", "--precision", "float16", "--epochs", "1")
    assert bad.returncode == 2 and "invalid choice: 'float16'" in bad.stderr


def test_warm_start_snapshots_and_weight_averaging(tmp_path, smoke_run):
    base = smoke_run
    args = [*SMOKE, "--target-mix", "0.3"]
    out = tmp_path / "warm"
    warm = run_script("train.py", *args, "--epochs", "3", "--out", str(out), "--init", str(base),
                      "--snapshots", "--average-last", "3")
    assert warm.returncode == 0, warm.stderr[-2000:]
    assert f"warm start from {base}" in warm.stderr
    snaps = sorted(p.name for p in (out / "snapshots").iterdir())
    assert snaps == ["epoch-001.weights.h5", "epoch-002.weights.h5", "epoch-003.weights.h5"]
    averaging = json.loads((out / "training.json").read_text())["weight_averaging"]
    assert [t["epochs"] for t in averaging["tried"]] == [[2, 3], [1, 3]]
    assert all(0 < t["val_score"] <= 1 for t in averaging["tried"])
    chosen, best = averaging["chosen"], json.loads((out / "state.json").read_text())["best_epoch"]
    exported = ("average of epochs {}-{}".format(*chosen["epochs"]) if chosen
                else f"epoch {best}, the best")
    assert warm.stdout.splitlines()[-1].startswith(f"3 epochs trained, exported {exported}: ")
    sha = hashlib.sha256((base / "model_weights.h5").read_bytes()).hexdigest()
    assert json.loads((out / "training.json").read_text())["weight_sources"] == {
        "init": {"path": str(base), "weights_sha256": sha}}
    assert json.loads((base / "training.json").read_text())["weight_sources"] == {}


def test_distillation_from_an_export_in_smoke_mode(tmp_path, smoke_run):
    base = smoke_run  # the teacher
    args = [*SMOKE, "--epochs", "1"]
    out = tmp_path / "student"
    student = run_script("train.py", *args, "--out", str(out), "--teacher", str(base),
                         "--teacher-mix", "0.6", "--teacher-temperature", "2",
                         "--target-mix", "0.2")
    assert student.returncode == 0, student.stderr[-2000:]
    assert f"teacher {base} (T=2) takes 0.60 of each target" in student.stderr
    config = json.loads((out / "training.json").read_text())["config"]
    assert (config["teacher"], config["teacher_mix"], config["teacher_temperature"]) == (
        str(base), 0.6, 2.0)
    # the run records which weights it learned from, by content, not only by path
    sources = json.loads((out / "training.json").read_text())["weight_sources"]
    assert sources == {"teacher": {"path": str(base), "weights_sha256": hashlib.sha256(
        (base / "model_weights.h5").read_bytes()).hexdigest()}}

    (tmp_path / "empty").mkdir()
    for extra, message in [
        (["--teacher", str(tmp_path / "empty")],
         f"no weights file at {tmp_path / 'empty' / 'model_weights.h5'}"),
        (["--teacher", str(base), "--teacher-mix", "1.5"], "--teacher-mix must be in (0, 1]"),
    ]:
        bad = run_script("train.py", *args, "--out", str(tmp_path / "bad"), *extra)
        assert bad.returncode == 2 and message in bad.stderr.strip().splitlines()[-1]
        assert "Traceback" not in bad.stderr and not (tmp_path / "bad").exists()


def test_distillation_from_an_ensemble_in_smoke_mode(tmp_path, smoke_run, tiny_model_dir):
    import numpy as np

    from ferapp.vision.classifier import load_export

    teachers = [smoke_run, tiny_model_dir]  # two tiny teachers of two architectures
    out = tmp_path / "student"
    student = run_script("train.py", *SMOKE, "--epochs", "1", "--out", str(out),
                         "--teacher", str(teachers[0]), "--teacher", str(teachers[1]),
                         "--teacher-mix", "0.7", "--teacher-temperature", "2")
    assert student.returncode == 0, student.stderr[-2000:]
    training = json.loads((out / "training.json").read_text())
    assert training["config"]["teacher"] == [str(t) for t in teachers]
    assert [s["path"] for s in training["weight_sources"]["teachers"]] == [
        str(t) for t in teachers]
    assert training["labels"] == ["angry", "disgust", "fear", "happy", "sad", "surprise",
                                  "neutral"]
    # the student export loads as the app loads a model, and serves scores
    model = load_export(out)
    scores = model.predict_scores(np.zeros((2, 48, 48), np.uint8))
    assert model.runtime in ("int8", "onnx") and scores.shape == (2, 7)
    # a resume reads the ensemble's targets back from the run folder
    again = run_script("train.py", *SMOKE, "--epochs", "2", "--out", str(out), "--resume",
                       "--teacher", str(teachers[0]), "--teacher", str(teachers[1]),
                       "--teacher-mix", "0.7", "--teacher-temperature", "2")
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"teacher targets from {out / 'teacher_targets.npz'}" in again.stderr
    assert json.loads((out / "state.json").read_text())["epochs_done"] == 2
    assert again.stdout.splitlines()[-1].startswith("2 epochs trained, exported epoch ")

    swapped = tmp_path / "swapped"
    shutil.copytree(tiny_model_dir, swapped)
    (swapped / "training.json").write_text(json.dumps({"labels": ["happy"] * 7}))
    bad = run_script("train.py", *SMOKE, "--epochs", "1", "--out", str(tmp_path / "bad"),
                     "--teacher", str(smoke_run), "--teacher", str(swapped))
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "labels in another order" in bad.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "bad").exists()


def test_teacher_targets_are_kept_for_resume_and_made_anew_when_a_teacher_changes(
        two_exports, tmp_path, monkeypatch):
    """The ensemble's targets are computed once per run folder: a resume reads them back;
    another temperature, other faces or other teacher weights compute them anew; a torn
    file is ignored."""
    import numpy as np

    from ferapp.learning import trainer
    from ferapp.learning.config import TrainConfig

    calls = []
    real = trainer.ensemble_probs

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(trainer, "ensemble_probs", counted)
    faces = np.random.default_rng(5).integers(0, 256, (12, 48, 48), dtype=np.uint8)
    cfg = TrainConfig(out_dir=str(tmp_path), teacher=[str(p) for p in two_exports],
                      teacher_mix=0.5, teacher_temperature=2.0)
    first = trainer.teacher_targets(cfg, faces)
    assert (tmp_path / "teacher_targets.npz").exists() and len(calls) == 1
    np.testing.assert_array_equal(trainer.teacher_targets(cfg, faces), first)
    assert len(calls) == 1  # read back, not computed
    hotter = TrainConfig(**{**cfg.__dict__, "teacher_temperature": 4.0})
    assert not np.allclose(trainer.teacher_targets(hotter, faces), first)
    assert len(calls) == 2
    trainer.teacher_targets(hotter, faces[::-1].copy())
    assert len(calls) == 3
    # a teacher whose weights changed since (e.g. '.' after another model shipped)
    moved = tmp_path / "teacher"
    shutil.copytree(two_exports[1], moved)
    other = TrainConfig(**{**cfg.__dict__, "teacher": [str(two_exports[0]), str(moved)]})
    trainer.teacher_targets(other, faces)
    assert len(calls) == 4
    trainer.teacher_targets(other, faces)
    assert len(calls) == 4
    (moved / "model_weights.h5").write_bytes(
        (two_exports[0] / "model_weights.h5").read_bytes())
    trainer.teacher_targets(other, faces)
    assert len(calls) == 5
    (tmp_path / "teacher_targets.npz").write_bytes(b"torn")
    np.testing.assert_allclose(trainer.teacher_targets(cfg, faces), first, rtol=1e-6)
    assert len(calls) == 6
