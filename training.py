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
from model import blur_faces, export_artifacts
from network import build_model

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
    label_smoothing: float = 0.0
    dropout: float = 0.3
    # Our Training images are all blurred (about sigma 3), test and live faces are sharp:
    # PublicTest (and, after export, every face) is blurred alike before classification.
    input_blur_sigma: float = 3.0
    seed: int = 1337
    # augmentation (ImageDataGenerator-equivalent ranges)
    rotation_deg: float = 10.0
    shift: float = 0.1
    zoom: float = 0.1
    flip: bool = True
    # smoke mode: at most this many training/validation images
    limit: int | None = None


class AugmentedBatches(keras.utils.PyDataset):
    """Shuffled, augmented (flip, rotation, shift, zoom) one-hot batches from uint8 arrays."""

    def __init__(self, x, y, cfg: TrainConfig, augment: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.x, self.y, self.cfg, self.augment = x, y, cfg, augment
        self.rng = np.random.default_rng(cfg.seed)
        self.order = np.arange(len(x))
        self.on_epoch_end()

    def __len__(self):
        return math.ceil(len(self.x) / self.cfg.batch_size)

    def on_epoch_end(self):
        if self.augment:
            self.rng.shuffle(self.order)

    def __getitem__(self, i):
        idx = self.order[i * self.cfg.batch_size : (i + 1) * self.cfg.batch_size]
        faces = self.x[idx]
        if self.augment:
            faces = np.stack([self._transform(f) for f in faces])
        x = faces[..., None].astype("float32")
        y = keras.utils.to_categorical(self.y[idx], len(EMOTIONS))
        return x, y

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
        return out


class ResumeState(keras.callbacks.Callback):
    """Save the full model (with optimizer state) and progress after every epoch."""

    def __init__(self, out_dir: Path, best: float | None, wall_s: float = 0.0):
        super().__init__()
        self.out_dir, self.best, self.wall_s = out_dir, best, wall_s
        self.started = time.time()

    def on_epoch_end(self, epoch, logs=None):
        acc = (logs or {}).get("val_accuracy")
        if acc is not None and (self.best is None or acc > self.best):
            self.best = float(acc)
        tmp = self.out_dir / "last.tmp.keras"
        self.model.save(tmp)
        tmp.replace(self.out_dir / "last.keras")
        now = time.time()
        self.wall_s, self.started = self.wall_s + now - self.started, now
        state = {"epochs_done": epoch + 1, "best_val_accuracy": self.best, "wall_s": self.wall_s}
        (self.out_dir / "state.json").write_text(json.dumps(state))


def load_data(cfg: TrainConfig):
    """Training and PublicTest arrays (subsets in smoke mode)."""
    x_tr, y_tr = fer_data.load_split(cfg.data_dir, "train", limit=cfg.limit)
    x_va, y_va = fer_data.load_split(cfg.data_dir, "public", limit=cfg.limit)
    return (x_tr, y_tr), (blur_faces(x_va, cfg.input_blur_sigma), y_va)


def compile_model(model, cfg: TrainConfig, steps_per_epoch: int):
    """Adam with linear warm-up then cosine decay, categorical cross-entropy, accuracy."""
    total = max(1, cfg.epochs * steps_per_epoch)
    warmup = min(cfg.warmup_epochs * steps_per_epoch, total - 1)
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0, decay_steps=total - warmup, warmup_target=cfg.learning_rate, warmup_steps=warmup
    )
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=cfg.label_smoothing),
        metrics=["accuracy"],
    )


def train(cfg: TrainConfig, resume: bool = False, callbacks=(), verbose="auto", export_dir=None):
    """Fit, keep the best PublicTest checkpoint, export it; return (history dict, summary)."""
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(cfg.seed)
    (x_tr, y_tr), (x_va, y_va) = load_data(cfg)
    log.info("train %s, PublicTest %s", fer_data.class_counts(y_tr), len(y_va))
    batches = AugmentedBatches(x_tr, y_tr, cfg)
    val = (x_va[..., None].astype("float32"), keras.utils.to_categorical(y_va, len(EMOTIONS)))

    state_file, initial_epoch, best, wall = out / "state.json", 0, None, 0.0
    if resume and state_file.exists():
        state = json.loads(state_file.read_text())
        initial_epoch, best = state["epochs_done"], state["best_val_accuracy"]
        wall = state.get("wall_s", 0.0)
        model = keras.models.load_model(out / "last.keras")
        log.info("resuming after epoch %d (best PublicTest %.4f)", initial_epoch, best or 0)
        planned = json.loads((out / "train_config.json").read_text())["epochs"]
        if planned != cfg.epochs:  # extend (or shorten) the run: a new schedule for the rest
            log.info("schedule changed from %d to %d epochs: warm restart at lr %g",
                     planned, cfg.epochs, cfg.learning_rate)
            compile_model(model, replace(cfg, epochs=max(1, cfg.epochs - initial_epoch)),
                          len(batches))
    else:
        model = build_model(cfg.arch, dropout=cfg.dropout)
        compile_model(model, cfg, len(batches))
    (out / "train_config.json").write_text(json.dumps(asdict(cfg), indent=2))

    cbs = [
        keras.callbacks.ModelCheckpoint(
            out / "best.weights.h5",
            monitor="val_accuracy",
            mode="max",
            save_best_only=True,
            save_weights_only=True,
            initial_value_threshold=best,
        ),
        keras.callbacks.CSVLogger(out / "log.csv", append=initial_epoch > 0),
        ResumeState(out, best, wall),
        *callbacks,
    ]
    hist = model.fit(
        batches,
        validation_data=val,
        epochs=cfg.epochs,
        initial_epoch=initial_epoch,
        callbacks=cbs,
        verbose=verbose,
    )
    summary = finish(cfg, out, export_dir or out)
    return hist.history, summary


def finish(cfg: TrainConfig, out: Path, export_dir: Path) -> dict:
    """Load the best checkpoint into a clean model and export model.json + model_weights.h5."""
    model = build_model(cfg.arch, dropout=cfg.dropout)
    model.load_weights(out / "best.weights.h5")
    state = json.loads((out / "state.json").read_text())
    summary = {
        "config": asdict(cfg),
        "best_public_accuracy": state["best_val_accuracy"],
        "epochs_done": state["epochs_done"],
        "train_wall_time_s": round(state.get("wall_s", 0.0), 1),
        "backend": keras.backend.backend(),
        "keras": keras.__version__,
        "hardware": f"{platform.processor() or platform.machine()}, {_cores()} cores",
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    export_artifacts(model, export_dir, training=summary,
                     preprocessing={"input_blur_sigma": cfg.input_blur_sigma})
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
            for key, label in ((metric, "Training"), (f"val_{metric}", "PublicTest")):
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
