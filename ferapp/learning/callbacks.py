"""Keras callbacks of a training run: PublicTest scores after each epoch, resumable state,
per-epoch weight snapshots, and the notebook's live loss/accuracy plot."""

from __future__ import annotations

import json
import time
from pathlib import Path

import keras
import numpy as np

from ferapp.learning.metrics import predict
from ferapp.system import atomic_path, atomic_write_text


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

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs.update(self.scores(self.model))

    def scores(self, model) -> dict:
        """val_loss, val_accuracy, val_accuracy_ferplus (with votes) and val_score."""
        logs = {}
        probs = predict(model, self.x, self.batch_size)
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
        with atomic_path(self.out_dir / "last.keras") as tmp:
            self.model.save(tmp)
        now = time.time()
        self.state["wall_s"] = self.state.get("wall_s", 0.0) + now - self.started
        self.started = now
        self.state["epochs_done"] = epoch + 1
        atomic_write_text(self.out_dir / "state.json", json.dumps(self.state, indent=1))


def snapshot_path(folder: Path, epoch: int) -> Path:
    """Where EpochSnapshots keeps the weights after ``epoch`` (1-based)."""
    return Path(folder) / f"epoch-{epoch:03d}.weights.h5"


class EpochSnapshots(keras.callbacks.Callback):
    """Keep each epoch's weights as ``epoch-NNN.weights.h5`` (1-based) for weight averaging."""

    def __init__(self, folder: Path):
        super().__init__()
        self.folder = Path(folder)

    def on_epoch_end(self, epoch, logs=None):
        self.folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(snapshot_path(self.folder, epoch + 1)) as tmp:
            self.model.save_weights(tmp)


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
        for ax, metric in zip(axes, ("loss", "accuracy"), strict=True):
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
