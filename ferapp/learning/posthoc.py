"""Work on finished runs and exports, no training: choose an export's class bias anew
(``train.py --recalibrate``), export another epoch of a run than its best checkpoint
(``train.py --export-epoch``), or average the weights of several exports of one
architecture into one network, a "model soup" (``train.py --soup``); all are calibrated and
exported as a run's model is."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, fields, replace
from datetime import UTC, datetime
from pathlib import Path

from ferapp.learning.averaging import mean_weights, recompute_bn_statistics
from ferapp.learning.callbacks import snapshot_path
from ferapp.learning.class_bias import apply_class_bias, calibrate, int8_bias, recorded_class_bias
from ferapp.learning.config import TrainConfig
from ferapp.learning.export import export_artifacts
from ferapp.learning.quantize import calibration_faces
from ferapp.learning.trainer import (
    calibrate_before_export,
    finish,
    load_data,
    provenance,
    public_scores,
    weights_source,
)
from ferapp.vision.classifier import (
    JSON_NAME,
    TRAINING_NAME,
    WEIGHTS_NAME,
    ModelLoadError,
    load_keras_model,
    weights_file,
)
from ferapp.vision.models import check_members

log = logging.getLogger(__name__)


def recalibrate(cfg: TrainConfig, export_dir: str | Path) -> dict:
    """Choose the class bias anew (cfg.min_recall, cfg.bias_floors) for a finished run's
    export: start from the model before its bias (``<export_dir>/uncalibrated``), tune on
    PublicTest as served, and write the export again, its training.json's ``class_bias``
    and bias settings replaced. No training."""
    export_dir = Path(export_dir)
    before = export_dir / "uncalibrated"
    if not cfg.min_recall:
        raise ValueError("recalibrating needs a recall floor (--min-recall > 0)")
    if not (before / JSON_NAME).is_file():
        raise ModelLoadError(f"{before} holds no uncalibrated export (model.json); "
                             "train with --min-recall to write one")
    summary = {}
    if (export_dir / TRAINING_NAME).is_file():
        summary = json.loads((export_dir / TRAINING_NAME).read_text())
    run_cfg = summary.get("config") or {}
    cfg = replace(cfg, seed=run_cfg.get("seed", cfg.seed))  # the same int8 calibration faces
    model = load_keras_model(before / JSON_NAME, before / WEIGHTS_NAME)
    (x_tr, _), _ = load_data(cfg, public=False)
    calibration = calibrate(model, before, public_scores(cfg), cfg.min_recall, cfg.bias_floors)
    summary["config"] = {**run_cfg, "min_recall": cfg.min_recall,
                         "bias_floors": list(cfg.bias_floors) if cfg.bias_floors else None}
    summary["class_bias"] = calibration
    summary["recalibrated"] = datetime.now(UTC).isoformat(timespec="seconds")
    export_artifacts(model, export_dir, training=summary,
                     calibration_faces=calibration_faces(x_tr, seed=cfg.seed),
                     int8_bias=int8_bias(export_dir, calibration))
    return summary


def export_epoch(cfg: TrainConfig, epoch: int, export_dir: str | Path) -> dict:
    """Export epoch ``epoch`` of the finished run in cfg.out_dir (its snapshot, kept with
    --snapshots) instead of its best checkpoint: the run's own settings (train_config.json),
    with the class bias chosen anew by cfg.min_recall and cfg.bias_floors. No training."""
    out = Path(cfg.out_dir)
    snapshot = snapshot_path(out / "snapshots", epoch)
    if not (out / "train_config.json").is_file() or not (out / "state.json").is_file():
        raise ModelLoadError(f"{out} holds no finished run (train_config.json, state.json)")
    if not snapshot.is_file():
        raise ModelLoadError(f"{snapshot} not found: the run kept no snapshot of epoch "
                             f"{epoch} (train with --snapshots)")
    run = json.loads((out / "train_config.json").read_text())
    run = {f.name: run[f.name] for f in fields(TrainConfig) if f.name in run}
    run_cfg = replace(TrainConfig(**run), data_dir=cfg.data_dir, out_dir=str(out),
                      limit=cfg.limit, min_recall=cfg.min_recall, average_last=0,
                      bias_floors=tuple(cfg.bias_floors) if cfg.bias_floors else None)
    return finish(run_cfg, out, Path(export_dir), epoch=epoch)


def soup(cfg: TrainConfig, exports: list[str | Path], export_dir: str | Path) -> dict:
    """A "model soup": the element-wise mean of the weights of several exports of one
    architecture (each with its recorded class bias taken out), batch-norm statistics
    recomputed on Training, then calibrated (cfg.min_recall, cfg.bias_floors) and exported
    like a run's model. It suits networks fine-tuned from one common start (such as
    students warm-started from the shipped model), whose weights lie in one basin; exports
    of other architectures raise ModelLoadError. No training."""
    exports = [Path(p) for p in exports]
    if len(exports) < 2:
        raise ModelLoadError("a soup needs at least two exports")
    check_members(exports)  # the same labels and input size
    record = exports[0] / TRAINING_NAME
    if record.is_file():  # the architecture the exports were trained as, for the record
        arch = (json.loads(record.read_text()).get("config") or {}).get("arch")
        cfg = replace(cfg, arch=arch or cfg.arch)
    def without_bias(path):  # the export's network as it learned, before its class bias
        member = load_keras_model(path / JSON_NAME, weights_file(path))
        bias = recorded_class_bias(path)
        if bias is not None:
            apply_class_bias(member, -bias)
        return member

    model = without_bias(exports[0])
    try:
        mean = mean_weights([model.get_weights()] +
                            [without_bias(p).get_weights() for p in exports[1:]])
    except ValueError:
        raise ModelLoadError(f"{', '.join(map(str, exports))} are not one architecture: a "
                             "soup averages exports of one architecture") from None
    model.set_weights(mean)
    (x_tr, _), _ = load_data(cfg, public=False)
    recompute_bn_statistics(model, x_tr, seed=cfg.seed)
    public = public_scores(cfg)
    logs = public.scores(model)
    scores = {key: round(float(logs[key]), 4) for key in
              ("val_accuracy", "val_accuracy_ferplus", "val_score") if key in logs}
    log.info("soup of %s: PublicTest %s", ", ".join(map(str, exports)), scores)
    faces = calibration_faces(x_tr, seed=cfg.seed)
    calibration = calibrate_before_export(cfg, model, export_dir, public, faces)
    summary = {
        "config": asdict(cfg),
        "soup_of": [weights_source(p) for p in exports],
        "best_public_score": scores.get("val_score"),
        "best_public_accuracy": scores.get("val_accuracy"),
        "best_public_accuracy_ferplus": scores.get("val_accuracy_ferplus"),
        "class_bias": calibration,
        **provenance(),
    }
    export_artifacts(model, export_dir, training=summary, calibration_faces=faces,
                     int8_bias=int8_bias(export_dir, calibration))
    return summary
