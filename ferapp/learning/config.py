"""A training run's settings (TrainConfig), the data-parallel set-up, and the optimizer and
schedule they define."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field, replace

import keras

from ferapp.learning import data as fer_data

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
    # Distillation: a trained export (folder or model_weights.h5), or a list of them (an
    # ensemble: their probabilities averaged), whose predictions on the Training faces
    # (flip-averaged, recorded class bias removed, softened by the temperature) take this
    # share of every target; the one-hot/FER+ mix above keeps the rest.
    teacher: str | list[str] | None = None
    teacher_mix: float = 0.0
    teacher_temperature: float = 1.0
    # what the teacher sees: "clean" (each Training face once, un-augmented, flip-averaged)
    # or "augmented" (every batch as the student sees it: targets.ViewTeacher)
    teacher_view: str = "clean"
    # loss weight per class of the original label, e.g. {"fear": 1.5}; classes not named
    # weigh 1, and the per-face weights are scaled to a mean of 1 over Training
    class_weight: dict[str, float] | None = None
    seed: int = 1337
    # augmentation: the tutorial's ImageDataGenerator ranges, plus random erasing
    rotation_deg: float = 10.0
    shift: float = 0.1
    zoom: float = 0.1
    flip: bool = True
    erase_prob: float = 0.0  # probability of erasing one random rectangle (2-20 % of the face)
    # probability of what a real photo adds to a face (augment.photo_degrade): blur, JPEG,
    # low light, sensor noise, low contrast
    photo_prob: float = 0.0
    # mixup: every training face blended with another of its batch, targets and loss
    # weights alike, in a proportion drawn from Beta(mixup, mixup) (0: off)
    mixup: float = 0.0
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
    if keras.backend.backend() != "jax":
        raise DistributeError("--distribute needs the JAX backend: run with KERAS_BACKEND=jax "
                              "(pip install jax)")
    if os.environ.get("KERAS_DISTRIBUTION_NUM_PROCESSES"):
        keras.distribution.initialize()
    devices = keras.distribution.list_devices()
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
    log.info("data parallel over %d device(s): %s", len(devices), ", ".join(devices))
    return len(devices)


def scaled_for_devices(cfg: TrainConfig, devices: int) -> TrainConfig:
    """The run's effective settings on ``devices`` devices: global batch = per-device batch x
    devices, learning rate x devices (the linear scaling rule, with the same warm-up)."""
    return replace(cfg, batch_size=cfg.batch_size * devices,
                   learning_rate=cfg.learning_rate * devices)


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
