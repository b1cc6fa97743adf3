"""A training run from start to export: data and targets, build or resume, fit with the
callbacks, then the best checkpoint (or a better weight average), its class bias and the
export. Shared by train.py and the notebook."""

from __future__ import annotations

import hashlib
import json
import logging
import platform
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path

import keras
import numpy as np

from ferapp.learning import data as fer_data
from ferapp.learning import ferplus
from ferapp.learning.architectures import PRECISIONS
from ferapp.learning.augment import AugmentedBatches
from ferapp.learning.averaging import choose_average
from ferapp.learning.callbacks import (
    EpochSnapshots,
    PublicTestScores,
    ResumeState,
    snapshot_path,
)
from ferapp.learning.class_bias import apply_class_bias, calibrate, int8_bias, recorded_class_bias
from ferapp.learning.config import (
    TrainConfig,
    compile_model,
    scaled_for_devices,
    setup_data_parallel,
)
from ferapp.learning.ensemble import ensemble_probs
from ferapp.learning.export import export_artifacts
from ferapp.learning.network import build_model, dtype_policy
from ferapp.learning.quantize import calibration_faces
from ferapp.learning.targets import (
    ViewTeacher,
    make_targets,
    mix_teacher,
    sample_weights,
    teacher_probs,
)
from ferapp.system import atomic_path, atomic_write_text, cores
from ferapp.vision.classifier import (
    file_sha256,
    weights_file,
)

log = logging.getLogger(__name__)


def load_data(cfg: TrainConfig, train: bool = True, public: bool = True):
    """Training and PublicTest arrays (subsets in smoke mode); (None, None) for a split
    not asked for."""
    def split(name, wanted):
        return fer_data.load_split(cfg.data_dir, name, limit=cfg.limit) if wanted else (None, None)

    return split("train", train), split("public", public)


def load_votes(cfg: TrainConfig, required: bool):
    """FER+ votes for Training and PublicTest, or (None, None) when the file is absent.

    A malformed file always raises FerPlusError; a missing one only when ``required``
    (a soft target needs it; PublicTest FER+ scores are a bonus).
    """
    return tuple(fer_data.load_votes(cfg.data_dir, split, cfg.limit, cfg.votes_path, required)
                 for split in ("train", "public"))


def public_scores(cfg: TrainConfig) -> PublicTestScores:
    """Scores on cfg's PublicTest split (FER+ majority when the votes file is there)."""
    (_, _), (x_va, y_va) = load_data(cfg, train=False)
    return PublicTestScores(x_va, y_va, fer_data.ferplus_labels(
        cfg.data_dir, "public", cfg.limit, cfg.votes_path, required=False))


def training_targets(cfg: TrainConfig, x_tr: np.ndarray, y_tr: np.ndarray,
                     v_tr: np.ndarray | None) -> np.ndarray:
    """The (N, 7) targets of the Training faces: one-hot and FER+ votes mixed, and the
    teacher's share when the run distils."""
    targets = make_targets(y_tr, v_tr, cfg.target_mix)
    if cfg.teacher and cfg.teacher_mix and cfg.teacher_view == "clean":
        soft = teacher_targets(cfg, x_tr)
        log.info("teacher %s (T=%g) takes %.2f of each target; it agrees with the original "
                 "labels on %.4f of the Training faces", cfg.teacher, cfg.teacher_temperature,
                 cfg.teacher_mix, float(np.mean(soft.argmax(1) == y_tr)))
        targets = mix_teacher(targets, soft, cfg.teacher_mix)
    return targets


def teacher_targets(cfg: TrainConfig, x_tr: np.ndarray) -> np.ndarray:
    """The teachers' softened probabilities of the Training faces, kept in the run folder
    (``teacher_targets.npz``) so that ``--resume`` does not compute them again: several
    minutes for an ensemble on two cores. The file is used only when it was made from the
    same teacher weights (SHA-256), temperature and faces; otherwise they are computed anew."""
    teachers = [cfg.teacher] if isinstance(cfg.teacher, str) else list(cfg.teacher)
    key = json.dumps({"teachers": [file_sha256(weights_file(t)) for t in teachers],
                      "temperature": cfg.teacher_temperature,
                      "faces": hashlib.sha256(np.ascontiguousarray(x_tr)).hexdigest()})
    cache = Path(cfg.out_dir) / "teacher_targets.npz"
    if cache.exists():
        try:
            with np.load(cache) as f:
                if str(f["key"]) == key:
                    log.info("teacher targets from %s", cache)
                    return f["probs"]
        except (OSError, ValueError, KeyError) as e:  # a torn or foreign file: compute anew
            log.warning("ignoring %s: %s", cache, e)
    soft = (teacher_probs(teachers[0], x_tr, cfg.teacher_temperature) if len(teachers) == 1
            else ensemble_probs(teachers, x_tr, cfg.teacher_temperature))
    with atomic_path(cache) as tmp:
        np.savez(tmp, key=np.array(key), probs=soft)
    return soft


def build_or_resume(cfg: TrainConfig, out: Path, resume: bool, steps_per_epoch: int):
    """A compiled model and the run's state: resumed from ``out`` (last.keras, state.json)
    or built anew (warm-started from cfg.init_weights). Returns (model, epoch, state)."""
    state_file = out / "state.json"
    if resume and state_file.exists():
        state = json.loads(state_file.read_text())
        initial_epoch = state["epochs_done"]
        model = keras.models.load_model(out / "last.keras")
        log.info("resuming after epoch %d (best PublicTest score %.4f)", initial_epoch,
                 state.get("best_val_score") or 0)
        planned = json.loads((out / "train_config.json").read_text())["epochs"]
        if planned != cfg.epochs:  # extend (or shorten) the run: a new schedule for the rest
            log.info("schedule changed from %d to %d epochs: warm restart at lr %g",
                     planned, cfg.epochs, cfg.learning_rate)
            compile_model(model, replace(cfg, epochs=max(1, cfg.epochs - initial_epoch)),
                          steps_per_epoch)
        return model, initial_epoch, state
    model = build_model(cfg.arch, dropout=cfg.dropout)
    if cfg.init_weights:
        warm_start(model, cfg.init_weights)
    compile_model(model, cfg, steps_per_epoch)
    atomic_write_text(out / "sources.json", json.dumps(weight_sources(cfg), indent=2))
    return model, 0, {}


def run_callbacks(cfg: TrainConfig, out: Path, scores: PublicTestScores, state: dict,
                  resumed: bool, extra=()) -> list:
    """PublicTest scores, the best checkpoint, the CSV log, the resume state, snapshots."""
    return [
        scores,
        keras.callbacks.ModelCheckpoint(
            out / "best.weights.h5", monitor="val_score", mode="max", save_best_only=True,
            save_weights_only=True, initial_value_threshold=state.get("best_val_score")),
        keras.callbacks.CSVLogger(out / "log.csv", append=resumed),
        ResumeState(out, state),
        *([EpochSnapshots(out / "snapshots")] if cfg.snapshots else []),
        *extra,
    ]


def train(cfg: TrainConfig, resume: bool = False, callbacks=(), verbose="auto", export_dir=None):
    """Fit, keep the best PublicTest checkpoint, export it; return (history dict, summary)."""
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if cfg.precision not in PRECISIONS:
        raise ValueError(f"unknown precision {cfg.precision!r}; choose from {PRECISIONS}")
    devices = setup_data_parallel() if cfg.distribute else 1
    user_cfg, cfg = cfg, scaled_for_devices(cfg, devices)
    keras.utils.set_random_seed(cfg.seed)
    (x_tr, y_tr), (x_va, y_va) = load_data(cfg)
    v_tr, v_va = load_votes(cfg, required=cfg.target_mix > 0)
    log.info("train %s, PublicTest %s, target: %.2f one-hot + %.2f FER+ votes",
             fer_data.class_counts(y_tr), len(y_va), 1 - cfg.target_mix, cfg.target_mix)
    targets = training_targets(cfg, x_tr, y_tr, v_tr)
    weights = sample_weights(y_tr, cfg.class_weight)
    if weights is not None:
        log.info("loss weight by original label %s, scaled to a mean of 1 over Training",
                 cfg.class_weight)
    teacher = (ViewTeacher(cfg.teacher, cfg.teacher_temperature, cfg.teacher_mix)
               if cfg.teacher and cfg.teacher_mix and cfg.teacher_view == "augmented" else None)
    batches = AugmentedBatches(x_tr, targets, cfg, drop_remainder=cfg.distribute,
                               sample_weight=weights, teacher=teacher)
    scores = PublicTestScores(x_va, y_va,
                              None if v_va is None else ferplus.majority_labels(v_va))
    # the model computes in cfg.precision while it trains (a resumed last.keras keeps the
    # policy it was saved with); evaluation and export below build float32 models
    with dtype_policy(cfg.precision):
        model, initial_epoch, state = build_or_resume(cfg, out, resume, len(batches))
        atomic_write_text(out / "train_config.json", json.dumps(asdict(user_cfg), indent=2))
        cbs = run_callbacks(cfg, out, scores, state, initial_epoch > 0, callbacks)
        hist = model.fit(batches, epochs=cfg.epochs, initial_epoch=initial_epoch,
                         callbacks=cbs, verbose=verbose)
    summary = finish(user_cfg, out, export_dir or out,
                     extra={"devices": devices, "global_batch_size": cfg.batch_size,
                            "effective_learning_rate": cfg.learning_rate})
    return hist.history, summary


def weight_sources(cfg: TrainConfig) -> dict:
    """Which weights a run started from and learned from (``--init``, ``--teacher``): each
    path as given and its weights file's SHA-256, so a later reader can tell which model
    a path such as ``.`` meant when the run began."""
    out = {"init": weights_source(cfg.init_weights)} if cfg.init_weights else {}
    if isinstance(cfg.teacher, str):
        out["teacher"] = weights_source(cfg.teacher)
    elif cfg.teacher:
        out["teachers"] = [weights_source(p) for p in cfg.teacher]
    return out


def weights_source(path) -> dict:
    """An export or weights file as given and its weights file's SHA-256."""
    return {"path": str(path), "weights_sha256": file_sha256(weights_file(path))}


def provenance() -> dict:
    """What an export's training.json records of where it was made: backend, Keras, CPU."""
    return {
        "backend": keras.backend.backend(),
        "keras": keras.__version__,
        "hardware": f"{platform.processor() or platform.machine()}, {cores()} cores",
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def calibrate_before_export(cfg: TrainConfig, model, export_dir, public, faces) -> dict | None:
    """With cfg.min_recall: export ``model`` as it is to ``<export_dir>/uncalibrated`` (kept
    for bench/bench_calibration.py and --recalibrate), tune the class bias on the served
    scores of that export and apply it to ``model``; the report, or None without it."""
    if not cfg.min_recall:
        return None
    before = Path(export_dir) / "uncalibrated"
    export_artifacts(model, before, calibration_faces=faces)
    return calibrate(model, before, public, cfg.min_recall, cfg.bias_floors)


def warm_start(model, weights: str | Path):
    """Load ``weights`` (an export folder or a weights file) into ``model``; the class bias
    an export was calibrated with is taken out again, so training continues from the
    network as it learned, not from its served calibration."""
    model.load_weights(weights_file(weights))
    bias = recorded_class_bias(weights)
    if bias is not None:
        apply_class_bias(model, -bias)
    log.info("warm start from %s%s", weights,
             "" if bias is None else
             f" (recorded class bias {[round(float(b), 3) for b in bias]} removed)")


def finish(cfg: TrainConfig, out: Path, export_dir: Path, extra: dict | None = None,
           epoch: int | None = None) -> dict:
    """Load the best checkpoint into a clean model (or, with cfg.average_last, a better
    average of the last epochs; or the snapshot of ``epoch``), calibrate it (cfg.min_recall;
    the model before calibration goes to ``uncalibrated/``) and export model.json +
    model_weights.h5 (+ model.onnx, model.int8.onnx, training.json)."""
    model = build_model(cfg.arch, dropout=cfg.dropout)
    state = json.loads((out / "state.json").read_text())
    (x_tr, _), _ = load_data(cfg, public=False)
    public = public_scores(cfg) if cfg.average_last or cfg.min_recall or epoch else None
    averaging = None
    if epoch:  # the epoch asked for, scored as the checkpoints were
        model.load_weights(snapshot_path(out / "snapshots", epoch))
        best = {"epoch": epoch, **{k: round(float(v), 4) for k, v in
                                   public.scores(model).items()}}
        best["score"] = best.get("val_score")
    else:
        model.load_weights(out / "best.weights.h5")
        best = {"epoch": state.get("best_epoch"), "score": state.get("best_val_score"),
                **state.get("best_logs", {})}
        averaging = (choose_average(model, cfg, out, best["score"] or 0.0, x_tr, public)
                     if cfg.average_last else None)
    if averaging and averaging["chosen"]:
        c = averaging["chosen"]
        best = {"epoch": "average of epochs {}-{}".format(*c["epochs"]),
                "score": c["val_score"], **c}
    faces = calibration_faces(x_tr, seed=cfg.seed)
    calibration = calibrate_before_export(cfg, model, export_dir, public, faces)
    summary = {
        "config": asdict(cfg),
        "best_epoch": best["epoch"],
        "best_public_score": best["score"],
        "best_public_accuracy": best.get("val_accuracy"),
        "best_public_accuracy_ferplus": best.get("val_accuracy_ferplus"),
        "weight_averaging": averaging,
        "checkpoint_criterion": f"epoch {epoch}, asked for (train.py --export-epoch)" if epoch
        else "PublicTest val_score: mean of the accuracy on the original labels and on the "
             "FER+ majority (original only without votes)",
        "class_bias": calibration,
        "weight_sources": (json.loads((out / "sources.json").read_text())
                           if (out / "sources.json").is_file() else None),
        "epochs_done": state["epochs_done"],
        "train_wall_time_s": round(state.get("wall_s", 0.0), 1),
        **provenance(),
        **(extra or {}),
    }
    export_artifacts(model, export_dir, training=summary, calibration_faces=faces,
                     int8_bias=int8_bias(export_dir, calibration))
    return summary
