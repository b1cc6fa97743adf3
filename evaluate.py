"""Evaluate the shipped (or any) model on FER-2013 PublicTest or PrivateTest.

    python evaluate.py [--split private|public] [--model-dir DIR] [--out DIR] [--tta]

Writes report.json (accuracy, per-class precision/recall/F1, split sizes, training
settings, date), confusion_matrix.csv and confusion_matrix.png into --out.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

import fer_data
from labels import EMOTIONS

SPLIT_NAMES = {"public": "PublicTest", "private": "PrivateTest"}


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n: int = len(EMOTIONS)) -> np.ndarray:
    """Confusion matrix: rows are true labels, columns predictions."""
    return np.bincount(y_true * n + y_pred, minlength=n * n).reshape(n, n)


def metrics(cm: np.ndarray) -> dict:
    """Accuracy and per-class precision, recall, F1 and support from a confusion matrix."""
    tp = np.diag(cm).astype(float)
    support, predicted = cm.sum(1), cm.sum(0)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    per_class = {
        e: {"precision": round(float(p), 4), "recall": round(float(r), 4),
            "f1": round(float(f), 4), "support": int(s)}
        for e, p, r, f, s in zip(EMOTIONS, precision, recall, f1, support)
    }
    return {"accuracy": round(float(tp.sum() / cm.sum()), 4),
            "macro_f1": round(float(f1.mean()), 4), "per_class": per_class}


def predict(model, x: np.ndarray, tta: bool = False, batch: int = 256) -> np.ndarray:
    """Class probabilities for uint8 faces, optionally averaged with their mirror images."""
    out = []
    for i in range(0, len(x), batch):
        chunk = x[i:i + batch]
        p = model.predict_scores(chunk)
        if tta:
            p = (p + model.predict_scores(chunk[:, :, ::-1].copy())) / 2
        out.append(p)
    return np.concatenate(out)


def save_confusion(cm: np.ndarray, out: Path, title: str):
    """Write the confusion matrix as CSV and as a PNG heat map (row-normalised)."""
    with open(out / "confusion_matrix.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["true\\predicted", *EMOTIONS])
        for e, row in zip(EMOTIONS, cm):
            w.writerow([e, *map(int, row)])
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(6.4, 5.4), dpi=110)
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(EMOTIONS)), EMOTIONS, rotation=40, ha="right")
    ax.set_yticks(range(len(EMOTIONS)), EMOTIONS)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    for i in range(len(EMOTIONS)):
        for j in range(len(EMOTIONS)):
            ax.text(j, i, f"{norm[i, j]:.2f}\n({cm[i, j]})", ha="center", va="center",
                    fontsize=7, color="white" if norm[i, j] > 0.5 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046, label="share of true class")
    fig.tight_layout()
    fig.savefig(out / "confusion_matrix.png")
    plt.close(fig)


def evaluate(model_dir: Path, data_dir: Path, split: str, out: Path | None,
             tta: bool = False, blur: float | None = None) -> dict:
    """Evaluate and (if ``out``) write the report files; return the report."""
    from model import TRAINING_NAME, FacialExpressionModel

    model = FacialExpressionModel(model_dir / "model.json", model_dir / "model_weights.h5",
                                  blur_sigma=blur)
    x, y = fer_data.load_split(data_dir, split)
    probs = predict(model, x)
    report = {
        "split": SPLIT_NAMES[split],
        "images": int(len(y)),
        "class_counts": fer_data.class_counts(y),
        "split_sizes": {name: len(fer_data.list_split(data_dir, s))
                        for s, name in (("train", "Training"), *SPLIT_NAMES.items())},
        **metrics(confusion(y, probs.argmax(1))),
    }
    if tta:
        tta_probs = predict(model, x, tta=True)
        report["hflip_tta"] = metrics(confusion(y, tta_probs.argmax(1)))
    training_file = model_dir / TRAINING_NAME
    report["training"] = json.loads(training_file.read_text()) if training_file.exists() else None
    report["model_dir"] = str(model_dir)
    report["runtime"] = model.runtime
    report["input_blur_sigma"] = model.blur_sigma
    report["date"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.json").write_text(json.dumps(report, indent=2))
        save_confusion(confusion(y, probs.argmax(1)), out,
                       f"{SPLIT_NAMES[split]}: accuracy {report['accuracy']:.3f}")
    return report


def format_report(r: dict) -> str:
    """A short text table of the report."""
    lines = [f"{r['split']} ({r['images']} images): accuracy {r['accuracy']:.4f}, "
             f"macro F1 {r['macro_f1']:.4f} (input blur sigma {r['input_blur_sigma']})"]
    if "hflip_tta" in r:
        lines.append(f"  with horizontal-flip TTA: accuracy {r['hflip_tta']['accuracy']:.4f}")
    lines.append(f"  {'class':<9} {'precision':>9} {'recall':>7} {'f1':>6} {'support':>8}")
    for e, m in r["per_class"].items():
        lines.append(f"  {e:<9} {m['precision']:>9.3f} {m['recall']:>7.3f} {m['f1']:>6.3f} "
                     f"{m['support']:>8}")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--split", choices=sorted(SPLIT_NAMES), default="private")
    p.add_argument("--model-dir", default=str(Path(__file__).resolve().parent))
    p.add_argument("--data", default=str(fer_data.default_data_dir()),
                   help="FER-2013 folder (default: $FER_DATA or ../shared/data/fer2013)")
    p.add_argument("--out", default="outputs/eval", help="folder for the report files")
    p.add_argument("--tta", action="store_true", help="also report horizontal-flip TTA")
    p.add_argument("--blur", type=float, default=None,
                   help="override the model's input blur sigma (tune it on --split public)")
    args = p.parse_args(argv)
    from camera import quiet_native_logs

    quiet_native_logs()
    from model import ModelLoadError

    try:
        fer_data.list_split(args.data, args.split)
        report = evaluate(Path(args.model_dir), Path(args.data), args.split, Path(args.out),
                          args.tta, args.blur)
    except (fer_data.DataError, ModelLoadError) as exc:
        print(f"evaluate.py: error: {exc}", file=sys.stderr)
        return 2
    print(format_report(report))
    print(f"report: {Path(args.out) / 'report.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
