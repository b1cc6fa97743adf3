"""Training shared by train.py and the notebook: data, augmentation, fit, resume, export.

Backend-agnostic: the input pipeline is in-memory numpy arrays and a ``keras.utils.PyDataset``
that augments with OpenCV, so it runs where TensorFlow is not installed (JAX, PyTorch).
"""

from __future__ import annotations

import json
import logging
import math
import platform
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import cv2
import keras
import numpy as np

import fer_data
from labels import EMOTIONS
from ferapp import ferplus
from ferapp.quantize import calibration_faces
from model import (DEFAULT_WEIGHTS, INT8_NAME, export_artifacts, file_sha256, load_keras_model,
                   weights_file)
from network import PRECISIONS, build_model, dtype_policy

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """Everything that defines a training run; saved beside its outputs."""

    data_dir: str = field(default_factory=lambda: str(fer_data.default_data_dir()))
    out_dir: str = "runs/latest"
    arch: str = "compact"
    epochs: int = 30
    batch_size: int = 64
    learning_rate: float = 1e-3
    warmup_epochs: int = 1
    optimizer: str = "adam"  # adam, adamw (decoupled weight decay) or sgd (Nesterov, 0.9)
    weight_decay: float = 0.0
    label_smoothing: float = 0.0
    dropout: float = 0.3
    # Training target: (1 - target_mix) * one-hot original label + target_mix * FER+ vote
    # distribution (images FER+ does not label keep the one-hot). 0: original labels only.
    target_mix: float = 0.0
    votes_path: str | None = None  # default: <data_dir>/ferplus_votes.csv
    # Distillation: a trained export (folder or model_weights.h5) whose predictions on the
    # Training faces (flip-averaged, recorded class bias removed, softened by the temperature)
    # take this share of every target; the one-hot/FER+ mix above keeps the rest.
    teacher: str | None = None
    teacher_mix: float = 0.0
    teacher_temperature: float = 1.0
    seed: int = 1337
    # augmentation: the tutorial's ImageDataGenerator ranges, plus random erasing
    rotation_deg: float = 10.0
    shift: float = 0.1
    zoom: float = 0.1
    flip: bool = True
    erase_prob: float = 0.0  # probability of erasing one random rectangle (2-20 % of the face)
    # after training: per-class output bias chosen on PublicTest so that the weakest class's
    # recall (original labels) is at least this, at the least cost in mean accuracy (0: off)
    min_recall: float = 0.0
    # with min_recall: (original, FER+) accuracy floors; the bias then keeps every target
    # above its floor with the widest margin instead of maximising the mean accuracy
    bias_floors: tuple[float, float] | None = None
    # smoke mode: at most this many training/validation images
    limit: int | None = None
    # data parallel over every device of the JAX backend (Keras distribution API):
    # batch_size is per device, the learning rate scales linearly with the device count
    distribute: bool = False
    # warm start: weights to begin from (model_weights.h5 of an export, or a .weights.h5
    # checkpoint of the same architecture); the schedule starts anew from warm-up
    init_weights: str | None = None
    # keep every epoch's weights in <out>/snapshots/ (for weight averaging afterwards)
    snapshots: bool = False
    # after training: also try the average of the last K epochs' weights (any K up to this,
    # from the snapshots), batch-norm statistics recomputed on Training; the candidate with
    # the best PublicTest val_score (the checkpoint criterion) is exported. 0: off
    average_last: int = 0
    # Keras dtype policy while training: "mixed_bfloat16" computes in bfloat16 (float32
    # weights), which CPUs with AMX or AVX512-BF16 run faster; exports are always float32
    precision: str = "float32"


class DistributeError(RuntimeError):
    """--distribute on a backend or machine where it cannot run."""


def setup_data_parallel() -> int:
    """Replicate the model on every device and split each batch between them; return the
    device count. Several machines: with KERAS_DISTRIBUTION_JOB_ADDRESSES,
    KERAS_DISTRIBUTION_NUM_PROCESSES and KERAS_DISTRIBUTION_PROCESS_ID set, the processes
    first join one job (``keras.distribution.initialize``) and see all its devices."""
    import os

    if keras.backend.backend() != "jax":
        raise DistributeError("--distribute needs the JAX backend: run with KERAS_BACKEND=jax "
                              "(pip install jax)")
    if os.environ.get("KERAS_DISTRIBUTION_NUM_PROCESSES"):
        keras.distribution.initialize()
    devices = keras.distribution.list_devices()
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
    log.info("data parallel over %d device(s): %s", len(devices), ", ".join(devices))
    return len(devices)


def scaled_for_devices(cfg: "TrainConfig", devices: int) -> "TrainConfig":
    """The run's effective settings on ``devices`` devices: global batch = per-device batch x
    devices, learning rate x devices (the linear scaling rule, with the same warm-up)."""
    return replace(cfg, batch_size=cfg.batch_size * devices,
                   learning_rate=cfg.learning_rate * devices)


def make_targets(y: np.ndarray, votes: np.ndarray | None, mix: float) -> np.ndarray:
    """(N, 7) float targets: one-hot labels mixed with the FER+ vote distribution.

    ``mix`` is the FER+ share (0: one-hot only, 1: FER+ only); rows without usable votes
    keep their one-hot target.
    """
    onehot = np.eye(len(EMOTIONS), dtype="float32")[y]
    if not mix or votes is None:
        return onehot
    dist, ok = ferplus.vote_distribution(votes)
    out = onehot.copy()
    out[ok] = (1 - mix) * onehot[ok] + mix * dist[ok]
    return out


def teacher_probs(teacher: str | Path, faces: np.ndarray, temperature: float = 1.0,
                  batch_size: int = 256) -> np.ndarray:
    """(N, 7) soft targets from a trained export for uint8 faces (N, 48, 48).

    The teacher's log-probabilities of each face and its mirror image are averaged, the
    class bias its export was calibrated with is taken out (the network as it learned),
    and ``temperature`` > 1 softens the distribution: p ∝ exp(mean log p / T).
    """
    weights = weights_file(teacher)
    model = load_keras_model(weights.parent / "model.json", weights)
    bias = recorded_class_bias(weights)
    if bias is not None:
        apply_class_bias(model, -bias)
    eps = 1e-7
    log_p = (np.log(predict_probs(model, faces, batch_size) + eps)
             + np.log(predict_probs(model, faces[:, :, ::-1], batch_size) + eps)) / 2
    z = log_p / temperature
    z -= z.max(axis=1, keepdims=True)
    p = np.exp(z)
    return (p / p.sum(axis=1, keepdims=True)).astype("float32")


def mix_teacher(targets: np.ndarray, teacher: np.ndarray | None, share: float) -> np.ndarray:
    """``share`` of every target row from the teacher, the rest from ``targets``."""
    if teacher is None or not share:
        return targets
    return ((1 - share) * targets + share * teacher).astype("float32")


class AugmentedBatches(keras.utils.PyDataset):
    """Shuffled, augmented (flip, rotation, shift, zoom, erasing) batches from uint8 arrays.

    ``y`` is either int labels (one-hot targets are made) or (N, 7) float targets.
    """

    def __init__(self, x, y, cfg: TrainConfig, augment: bool = True,
                 drop_remainder: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.drop_remainder = drop_remainder  # data parallel: every batch splits evenly
        y = np.asarray(y)
        if y.ndim == 1:
            y = make_targets(y, None, 0.0)
        self.x, self.y, self.cfg, self.augment = x, y.astype("float32"), cfg, augment
        self.rng = np.random.default_rng(cfg.seed)
        self.order = np.arange(len(x))
        self.on_epoch_end()

    def __len__(self):
        if self.drop_remainder:
            return max(1, len(self.x) // self.cfg.batch_size)
        return math.ceil(len(self.x) / self.cfg.batch_size)

    def on_epoch_end(self):
        if self.augment:
            self.rng.shuffle(self.order)

    def __getitem__(self, i):
        idx = self.order[i * self.cfg.batch_size : (i + 1) * self.cfg.batch_size]
        faces = self.x[idx]
        if self.augment:
            faces = np.stack([self._transform(f) for f in faces])
        return faces[..., None].astype("float32"), self.y[idx]

    def _transform(self, face: np.ndarray) -> np.ndarray:
        c, r = self.cfg, self.rng
        size = face.shape[0]
        angle = r.uniform(-c.rotation_deg, c.rotation_deg)
        scale = r.uniform(1 - c.zoom, 1 + c.zoom)
        m = cv2.getRotationMatrix2D((size / 2, size / 2), angle, scale)
        m[:, 2] += r.uniform(-c.shift, c.shift, 2) * size
        out = cv2.warpAffine(face, m, (size, size), borderMode=cv2.BORDER_REPLICATE)
        if c.flip and r.random() < 0.5:
            out = out[:, ::-1]
        if c.erase_prob and r.random() < c.erase_prob:
            out = out.copy()
            area = r.uniform(0.02, 0.2) * size * size
            aspect = np.exp(r.uniform(np.log(0.3), np.log(3.3)))
            h = int(min(size, round(np.sqrt(area * aspect))))
            w = int(min(size, round(np.sqrt(area / aspect))))
            top, left = r.integers(0, size - h + 1), r.integers(0, size - w + 1)
            out[top:top + h, left:left + w] = r.integers(0, 256, (h, w), dtype=np.uint8)
        return out


def predict_probs(model, faces: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """(N, 7) probabilities of the Keras model for uint8 faces (N, 48, 48), in batches."""
    return np.concatenate([
        keras.ops.convert_to_numpy(
            model(faces[i:i + batch_size, ..., None].astype("float32"), training=False))
        for i in range(0, len(faces), batch_size)])


class PublicTestScores(keras.callbacks.Callback):
    """After each epoch, score PublicTest on the original labels and the FER+ majority.

    Adds ``val_loss`` and ``val_accuracy`` (original labels), ``val_accuracy_ferplus`` and
    ``val_score`` (their mean; the checkpoint criterion when FER+ votes are present, else
    equal to ``val_accuracy``) to the epoch logs, before the checkpoint callbacks read them.
    """

    def __init__(self, x, y, ferplus_y: np.ndarray | None, batch_size: int = 256):
        super().__init__()
        self.x, self.y, self.batch_size = x, y, batch_size
        self.fp = None if ferplus_y is None else ferplus_y
        if self.fp is not None and not (self.fp >= 0).any():
            self.fp = None

    @classmethod
    def for_config(cls, cfg: "TrainConfig") -> "PublicTestScores":
        """Scores on cfg's PublicTest split (FER+ majority when the votes file is there)."""
        (_, _), (x_va, y_va) = load_data(cfg, train=False)
        _, v_va = load_votes(cfg, required=False)
        return cls(x_va, y_va, None if v_va is None else ferplus.majority_labels(v_va))

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs.update(self.scores(self.model))

    def scores(self, model) -> dict:
        """val_loss, val_accuracy, val_accuracy_ferplus (with votes) and val_score."""
        logs = {}
        probs = predict_probs(model, self.x, self.batch_size)
        pred = probs.argmax(1)
        logs["val_loss"] = float(-np.log(np.clip(probs[np.arange(len(self.y)), self.y],
                                                 1e-7, 1)).mean())
        logs["val_accuracy"] = float((pred == self.y).mean())
        if self.fp is not None:
            keep = self.fp >= 0
            logs["val_accuracy_ferplus"] = float((pred[keep] == self.fp[keep]).mean())
            logs["val_score"] = (logs["val_accuracy"] + logs["val_accuracy_ferplus"]) / 2
        else:
            logs["val_score"] = logs["val_accuracy"]
        return logs


class ResumeState(keras.callbacks.Callback):
    """Save the full model (with optimizer state) and progress after every epoch.

    ``state.json`` keeps the epochs done, the best PublicTest score (the checkpoint
    criterion, ``val_score``) with that epoch's logs, and the training wall time.
    """

    def __init__(self, out_dir: Path, state: dict | None = None):
        super().__init__()
        self.out_dir = out_dir
        self.state = dict(state or {})
        self.started = time.time()

    def on_epoch_end(self, epoch, logs=None):
        logs = {k: float(v) for k, v in (logs or {}).items()}
        score, best = logs.get("val_score"), self.state.get("best_val_score")
        if score is not None and (best is None or score > best):
            self.state["best_val_score"] = score
            self.state["best_epoch"] = epoch + 1
            self.state["best_logs"] = logs
        tmp = self.out_dir / "last.tmp.keras"
        self.model.save(tmp)
        tmp.replace(self.out_dir / "last.keras")
        now = time.time()
        self.state["wall_s"] = self.state.get("wall_s", 0.0) + now - self.started
        self.started = now
        self.state["epochs_done"] = epoch + 1
        (self.out_dir / "state.json").write_text(json.dumps(self.state, indent=1))


class EpochSnapshots(keras.callbacks.Callback):
    """Keep each epoch's weights as ``epoch-NNN.weights.h5`` (1-based) for weight averaging."""

    def __init__(self, folder: Path):
        super().__init__()
        self.folder = Path(folder)

    def on_epoch_end(self, epoch, logs=None):
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / "partial.weights.h5"
        self.model.save_weights(tmp)
        tmp.replace(self.folder / f"epoch-{epoch + 1:03d}.weights.h5")


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
    path = Path(cfg.votes_path or ferplus.default_votes_path(cfg.data_dir))
    if not path.exists() and not required:
        log.info("no FER+ votes at %s: original labels only", path)
        return None, None
    return (fer_data.load_votes(cfg.data_dir, "train", cfg.limit, path),
            fer_data.load_votes(cfg.data_dir, "public", cfg.limit, path))


def make_optimizer(cfg: TrainConfig, schedule):
    """Adam, AdamW or SGD with Nesterov momentum, on the given learning-rate schedule."""
    if cfg.optimizer == "adam":
        return keras.optimizers.Adam(schedule)
    if cfg.optimizer == "adamw":
        return keras.optimizers.AdamW(schedule, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "sgd":
        return keras.optimizers.SGD(schedule, momentum=0.9, nesterov=True,
                                    weight_decay=cfg.weight_decay or None)
    raise ValueError(f"unknown optimizer {cfg.optimizer!r}; choose adam, adamw or sgd")


def compile_model(model, cfg: TrainConfig, steps_per_epoch: int):
    """The optimizer with linear warm-up then cosine decay, cross-entropy, accuracy."""
    total = max(1, cfg.epochs * steps_per_epoch)
    warmup = min(cfg.warmup_epochs * steps_per_epoch, total - 1)
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0, decay_steps=total - warmup, warmup_target=cfg.learning_rate, warmup_steps=warmup
    )
    model.compile(
        optimizer=make_optimizer(cfg, schedule),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=cfg.label_smoothing),
        metrics=["accuracy"],
    )


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
    targets = make_targets(y_tr, v_tr, cfg.target_mix)
    if cfg.teacher and cfg.teacher_mix:
        soft = teacher_probs(cfg.teacher, x_tr, cfg.teacher_temperature)
        log.info("teacher %s (T=%g) takes %.2f of each target; it agrees with the original "
                 "labels on %.4f of the Training faces", cfg.teacher, cfg.teacher_temperature,
                 cfg.teacher_mix, float(np.mean(soft.argmax(1) == y_tr)))
        targets = mix_teacher(targets, soft, cfg.teacher_mix)
    batches = AugmentedBatches(x_tr, targets, cfg, drop_remainder=cfg.distribute)
    scores = PublicTestScores(x_va, y_va,
                              None if v_va is None else ferplus.majority_labels(v_va))

    # the model computes in cfg.precision while it trains (a resumed last.keras keeps the
    # policy it was saved with); evaluation and export below build float32 models
    with dtype_policy(cfg.precision):
        state_file, initial_epoch, state = out / "state.json", 0, {}
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
                              len(batches))
        else:
            model = build_model(cfg.arch, dropout=cfg.dropout)
            if cfg.init_weights:
                warm_start(model, cfg.init_weights)
            compile_model(model, cfg, len(batches))
            (out / "sources.json").write_text(json.dumps(weight_sources(cfg), indent=2))
        (out / "train_config.json").write_text(json.dumps(asdict(user_cfg), indent=2))

        cbs = [
            scores,
            keras.callbacks.ModelCheckpoint(
                out / "best.weights.h5",
                monitor="val_score",
                mode="max",
                save_best_only=True,
                save_weights_only=True,
                initial_value_threshold=state.get("best_val_score"),
            ),
            keras.callbacks.CSVLogger(out / "log.csv", append=initial_epoch > 0),
            ResumeState(out, state),
            *([EpochSnapshots(out / "snapshots")] if cfg.snapshots else []),
            *callbacks,
        ]
        hist = model.fit(
            batches,
            epochs=cfg.epochs,
            initial_epoch=initial_epoch,
            callbacks=cbs,
            verbose=verbose,
        )
    summary = finish(user_cfg, out, export_dir or out,
                     extra={"devices": devices, "global_batch_size": cfg.batch_size,
                            "effective_learning_rate": cfg.learning_rate})
    return hist.history, summary


def weight_sources(cfg: TrainConfig) -> dict:
    """Which weights a run started from and learned from (``--init``, ``--teacher``): each
    path as given and its weights file's SHA-256, so a later reader can tell which model
    a path such as ``.`` meant when the run began."""
    return {role: {"path": str(path), "weights_sha256": file_sha256(weights_file(path))}
            for role, path in (("init", cfg.init_weights), ("teacher", cfg.teacher)) if path}


def recorded_class_bias(weights: str | Path) -> np.ndarray | None:
    """The class bias an export wrote into its weights (training.json beside its
    model_weights.h5, after a --min-recall calibration), or None when it records none
    (checkpoints such as best.weights.h5 never hold one)."""
    weights = weights_file(weights)
    record = weights.parent / "training.json"
    if weights.name != DEFAULT_WEIGHTS.name or not record.is_file():
        return None
    bias = (json.loads(record.read_text()).get("class_bias") or {}).get("bias")
    return None if bias is None else np.asarray(bias, dtype="float32")


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


def tune_class_bias(log_probs: np.ndarray, y: np.ndarray, ferplus_y: np.ndarray | None,
                    min_recall: float, steps: np.ndarray = np.linspace(-1.5, 1.5, 31),
                    rounds: int = 4, floors: tuple[float, float] | None = None
                    ) -> tuple[np.ndarray, dict]:
    """A per-class bias for the log-probabilities (coordinate search on PublicTest).

    Objective without ``floors``: the mean of the accuracy on the original labels and on
    the FER+ majority (original only without votes), minus a steep penalty for each point
    the weakest class's recall (original labels) falls short of ``min_recall``.

    With ``floors`` = (original, FER+) accuracy floors, the targets: every figure should
    clear its floor (each class's recall clears ``min_recall``) with the widest margin,
    each margin counted in standard errors of a proportion at its floor,
    (value - floor) / sqrt(floor (1 - floor) / n), so a class of 500 faces needs a wider
    margin than an accuracy over 3,500. The search maximises a soft minimum of the
    margins (log-sum-exp, temperature 0.25), which moves all of them, not only the worst.
    Returns the bias and the PublicTest figures before and after.
    """
    keep = ferplus_y >= 0 if ferplus_y is not None else None
    counts = np.array([max(1, (y == c).sum()) for c in range(len(EMOTIONS))])

    def se(floor, n):
        return np.sqrt(max(floor * (1 - floor), 1e-6) / n)

    def figures(bias):
        pred = (log_probs + bias).argmax(1)
        rec = np.array([((pred == c) & (y == c)).sum() for c in range(len(EMOTIONS))]) / counts
        acc = float((pred == y).mean())
        fp = float((pred[keep] == ferplus_y[keep]).mean()) if keep is not None else None
        if floors is None:
            mean = acc if fp is None else (acc + fp) / 2
            return mean - 2.0 * max(0.0, min_recall - rec.min()), acc, fp, rec
        z = [(acc - floors[0]) / se(floors[0], len(y))]
        if fp is not None:
            z.append((fp - floors[1]) / se(floors[1], int(keep.sum())))
        z.extend((rec - min_recall) / np.array([se(min_recall, n) for n in counts]))
        z = np.array(z)
        return float(-0.25 * np.log(np.exp(-z / 0.25).sum())), acc, fp, rec

    bias = np.zeros(len(EMOTIONS))
    best = figures(bias)[0]
    for _ in range(rounds):
        for c in range(len(EMOTIONS)):
            for d in steps:
                trial = bias.copy()
                trial[c] = d
                value = figures(trial)[0]
                if value > best + 1e-9:
                    best, bias = value, trial
    before, after = figures(np.zeros(len(EMOTIONS))), figures(bias)
    report = {"min_recall": min_recall, "bias": [round(float(b), 3) for b in bias],
              "objective": "mean" if floors is None else
              {"accuracy_floors": list(floors), "margin": "soft minimum, standard errors"}}
    for name, (_, acc, fp, rec) in (("before", before), ("after", after)):
        report[name] = {"accuracy": round(acc, 4),
                        "accuracy_ferplus": None if fp is None else round(fp, 4),
                        "weakest_recall": round(float(rec.min()), 4),
                        "weakest_class": EMOTIONS[int(rec.argmin())]}
    return bias, report


def apply_class_bias(model, bias: np.ndarray, layer: str = "emotion"):
    """Add ``bias`` to the logits of the softmax layer (its Dense bias): p_c ∝ p_c e^{b_c}."""
    dense = model.get_layer(layer)
    kernel, old = dense.get_weights()
    dense.set_weights([kernel, old + bias.astype(old.dtype)])


def calibrate(model, cfg: TrainConfig, export: Path,
              public: PublicTestScores | None = None) -> dict | None:
    """Choose the class bias on PublicTest (cfg.min_recall) for the predictions as served
    from ``export``, the model's export (its int8 copy when it has one, flip TTA), and
    apply it to ``model``; None when off."""
    if not cfg.min_recall:
        return None
    from evaluate import predict
    from model import FacialExpressionModel

    public = public or PublicTestScores.for_config(cfg)
    served = FacialExpressionModel(export / "model.json", export / "model_weights.h5",
                                   flip_tta=True)
    probs = predict(served, public.x)
    bias, report = tune_class_bias(np.log(np.clip(probs, 1e-9, 1)), public.y, public.fp,
                                   cfg.min_recall,
                                   floors=tuple(cfg.bias_floors) if cfg.bias_floors else None)
    apply_class_bias(model, bias)
    report["scored_with"] = f"{served.runtime}, flip TTA"
    log.info("class bias %s (%s): PublicTest %s -> %s", report["bias"],
             report["scored_with"], report["before"], report["after"])
    return report


def recompute_bn_statistics(model, x: np.ndarray, batch_size: int = 128,
                            max_batches: int = 200, seed: int = 0):
    """Set every BatchNormalization layer's moving mean/variance to the plain average over
    up to ``max_batches`` batches of ``x`` (needed after averaging weights: the averaged
    network's activations have other statistics than any of its parents')."""
    bns = [layer for layer in model.layers
           if isinstance(layer, keras.layers.BatchNormalization)]
    saved = [layer.momentum for layer in bns]
    order = np.random.default_rng(seed).permutation(len(x))
    try:
        for k, i in enumerate(range(0, min(len(x), max_batches * batch_size), batch_size)):
            for layer in bns:  # cumulative average: weight 1/(k+1) for the k-th batch
                layer.momentum = k / (k + 1)
            model(x[order[i:i + batch_size], ..., None].astype("float32"), training=True)
    finally:
        for layer, m in zip(bns, saved):
            layer.momentum = m


def average_weights(model, files: list[Path]):
    """Load the element-wise mean of several weight files of ``model``'s architecture."""
    total = None
    for f in files:
        model.load_weights(f)
        w = [np.asarray(v, dtype="float64") for v in model.get_weights()]
        total = w if total is None else [a + b for a, b in zip(total, w)]
    model.set_weights([(t / len(files)).astype("float32") for t in total])


def choose_average(model, cfg: TrainConfig, out: Path, best_score: float,
                   x_train: np.ndarray, public: PublicTestScores) -> dict | None:
    """Try the averages of the last 2..cfg.average_last epochs; keep the best on PublicTest
    if it beats the best checkpoint (``model`` then holds it). Returns what was tried."""
    snaps = sorted((out / "snapshots").glob("epoch-*.weights.h5"))
    if cfg.average_last < 2 or len(snaps) < 2:
        return None
    best_w, tried, chosen = model.get_weights(), [], None
    for k in range(2, min(cfg.average_last, len(snaps)) + 1):
        files = snaps[-k:]
        average_weights(model, files)
        recompute_bn_statistics(model, x_train, seed=cfg.seed)
        logs = public.scores(model)
        row = {"epochs": [int(f.name[6:9]) for f in (files[0], files[-1])],
               **{key: round(float(logs[key]), 4) for key in
                  ("val_accuracy", "val_accuracy_ferplus", "val_score") if key in logs}}
        tried.append(row)
        log.info("average of epochs %d-%d: PublicTest %s", *row["epochs"], row)
        if logs["val_score"] > best_score:
            best_score, best_w, chosen = logs["val_score"], model.get_weights(), row
    model.set_weights(best_w)
    return {"tried": tried, "chosen": chosen}


def finish(cfg: TrainConfig, out: Path, export_dir: Path, extra: dict | None = None) -> dict:
    """Load the best checkpoint into a clean model (or, with cfg.average_last, a better
    average of the last epochs), calibrate it (cfg.min_recall; the model before calibration
    goes to ``uncalibrated/``) and export model.json + model_weights.h5 (+ model.onnx,
    model.int8.onnx, training.json)."""
    model = build_model(cfg.arch, dropout=cfg.dropout)
    model.load_weights(out / "best.weights.h5")
    state = json.loads((out / "state.json").read_text())
    best = {"epoch": state.get("best_epoch"), "score": state.get("best_val_score"),
            **state.get("best_logs", {})}
    (x_tr, _), _ = load_data(cfg, public=False)
    public = (PublicTestScores.for_config(cfg) if cfg.average_last or cfg.min_recall
              else None)
    averaging = (choose_average(model, cfg, out, best["score"] or 0.0, x_tr, public)
                 if cfg.average_last else None)
    if averaging and averaging["chosen"]:
        c = averaging["chosen"]
        best = {"epoch": "average of epochs {}-{}".format(*c["epochs"]),
                "score": c["val_score"], **c}
    faces = calibration_faces(x_tr, seed=cfg.seed)
    calibration = None
    if cfg.min_recall:  # the bias is tuned on the served scores of the model before it,
        # whose export stays beside the calibrated one (for bench/bench_calibration.py)
        before = Path(export_dir) / "uncalibrated"
        export_artifacts(model, before, calibration_faces=faces)
        calibration = calibrate(model, cfg, before, public)
    summary = {
        "config": asdict(cfg),
        "best_epoch": best["epoch"],
        "best_public_score": best["score"],
        "best_public_accuracy": best.get("val_accuracy"),
        "best_public_accuracy_ferplus": best.get("val_accuracy_ferplus"),
        "weight_averaging": averaging,
        "checkpoint_criterion": "PublicTest val_score: mean of the accuracy on the original "
                                "labels and on the FER+ majority (original only without votes)",
        "class_bias": calibration,
        "weight_sources": (json.loads((out / "sources.json").read_text())
                           if (out / "sources.json").is_file() else None),
        "epochs_done": state["epochs_done"],
        "train_wall_time_s": round(state.get("wall_s", 0.0), 1),
        "backend": keras.backend.backend(),
        "keras": keras.__version__,
        "hardware": f"{platform.processor() or platform.machine()}, {_cores()} cores",
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **(extra or {}),
    }
    export_artifacts(model, export_dir, training=summary, calibration_faces=faces,
                     int8_bias=int8_bias(export_dir, calibration))
    return summary


def int8_bias(export_dir: str | Path, calibration: dict | None):
    """(the uncalibrated int8 file, the chosen bias) for export_artifacts, or None."""
    if not calibration:
        return None
    return Path(export_dir) / "uncalibrated" / INT8_NAME, np.asarray(calibration["bias"])


def recalibrate(cfg: TrainConfig, export_dir: str | Path) -> dict:
    """Choose the class bias anew (cfg.min_recall, cfg.bias_floors) for a finished run's
    export: start from the model before its bias (``<export_dir>/uncalibrated``), tune on
    PublicTest as served, and write the export again, its training.json's ``class_bias``
    and bias settings replaced. No training."""
    from model import ModelLoadError, load_keras_model

    export_dir = Path(export_dir)
    before = export_dir / "uncalibrated"
    if not cfg.min_recall:
        raise ValueError("recalibrating needs a recall floor (--min-recall > 0)")
    if not (before / "model.json").is_file():
        raise ModelLoadError(f"{before} holds no uncalibrated export (model.json); "
                             "train with --min-recall to write one")
    summary = {}
    if (export_dir / "training.json").is_file():
        summary = json.loads((export_dir / "training.json").read_text())
    run_cfg = summary.get("config") or {}
    cfg = replace(cfg, seed=run_cfg.get("seed", cfg.seed))  # the same int8 calibration faces
    model = load_keras_model(before / "model.json", before / "model_weights.h5")
    (x_tr, _), _ = load_data(cfg, public=False)
    calibration = calibrate(model, cfg, before)
    summary["config"] = {**run_cfg, "min_recall": cfg.min_recall,
                         "bias_floors": list(cfg.bias_floors) if cfg.bias_floors else None}
    summary["class_bias"] = calibration
    summary["recalibrated"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    export_artifacts(model, export_dir, training=summary,
                     calibration_faces=calibration_faces(x_tr, seed=cfg.seed),
                     int8_bias=int8_bias(export_dir, calibration))
    return summary


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


class LivePlot(keras.callbacks.Callback):
    """Redraw loss and accuracy curves after every epoch in a Jupyter notebook."""

    def __init__(self, figsize=(11, 4)):
        super().__init__()
        self.figsize, self.history, self.handle = figsize, {}, None

    def on_epoch_end(self, epoch, logs=None):
        import matplotlib.pyplot as plt
        from IPython.display import display

        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(float(v))
        fig, axes = plt.subplots(1, 2, figsize=self.figsize)
        for ax, metric in zip(axes, ("loss", "accuracy")):
            for key, label in ((metric, "Training"), (f"val_{metric}", "PublicTest"),
                               (f"val_{metric}_ferplus", "PublicTest, FER+ majority")):
                if key in self.history:
                    ax.plot(range(1, len(self.history[key]) + 1), self.history[key],
                            marker="o", label=label)
            ax.set_xlabel("epoch")
            ax.set_title(metric)
            ax.grid(alpha=0.3)
            ax.legend()
        fig.tight_layout()
        if self.handle is None:
            self.handle = display(fig, display_id=True)
        else:
            self.handle.update(fig)
        plt.close(fig)
