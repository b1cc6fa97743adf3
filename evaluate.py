"""Evaluate the shipped (or any) model on FER-2013 PublicTest and PrivateTest.

    python evaluate.py [--split both|private|public] [--model-dir DIR] [--out DIR]
                       [--runtime auto|int8|onnx|keras] [--no-flip]

Scores the model as the app serves it (by default: the int8 ONNX model when the export
has one, with horizontal-flip test-time augmentation).

Scores each split against two label sets: the original FER-2013 labels, and the FER+
majority of 10 annotators (``ferplus_votes.csv``; the rule is in ferapp/ferplus.py, images
without a clear majority are left out). Writes into --out: report.json (both splits:
accuracy, macro F1, per-class precision/recall/F1, split sizes, training settings, date)
and, per split and label set, confusion_<split>_<labels>.csv and .png.
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
from model import RUNTIMES  # model.py imports no ML framework at module level

SPLIT_NAMES = {"public": "PublicTest", "private": "PrivateTest"}
LABEL_SETS = {"original": "original labels", "ferplus": "FER+ majority"}


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


def headline(pred: np.ndarray, y: np.ndarray, ferplus_y: np.ndarray | None = None) -> dict:
    """The figures the targets are set on: accuracy on the original labels and on the FER+
    majority (faces it labels; None without it), each class's recall on the original labels
    and the weakest of them."""
    original = metrics(confusion(y, pred))
    recall = {e: c["recall"] for e, c in original["per_class"].items()}
    weakest = min(recall, key=recall.get)
    ferplus_acc = None
    if ferplus_y is not None:
        keep = ferplus_y >= 0
        ferplus_acc = metrics(confusion(ferplus_y[keep], pred[keep]))["accuracy"]
    return {"accuracy": original["accuracy"], "accuracy_ferplus": ferplus_acc,
            "recall": recall, "weakest_class": weakest, "weakest_recall": recall[weakest]}


def predict(model, x: np.ndarray, batch: int = 256) -> np.ndarray:
    """Class probabilities for uint8 faces, through the model's served path."""
    return np.concatenate([model.predict_scores(x[i:i + batch])
                           for i in range(0, len(x), batch)])


def save_confusion(cm: np.ndarray, out: Path, stem: str, title: str):
    """Write the confusion matrix as ``stem``.csv and a row-normalised heat map ``stem``.png."""
    with open(out / f"{stem}.csv", "w", newline="") as f:
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
    fig.savefig(out / f"{stem}.png")
    plt.close(fig)


def load_ferplus_labels(data_dir: Path, split: str, votes_path: Path | None,
                        required: bool) -> np.ndarray | None:
    """FER+ majority labels (-1: left out) in load_split order, or None without a votes file."""
    from ferapp import ferplus

    path = votes_path or ferplus.default_votes_path(data_dir)
    if not path.exists() and not required:
        return None
    return ferplus.majority_labels(fer_data.load_votes(data_dir, split, votes_path=path))


def score_split(model, data_dir: Path, split: str, votes_path: Path | None = None,
                votes_required: bool = False) -> tuple[dict, dict]:
    """Metrics of one split on both label sets; also return the confusion matrices."""
    x, y = fer_data.load_split(data_dir, split)
    probs = predict(model, x)
    pred = probs.argmax(1)
    cms = {"original": confusion(y, pred)}
    result = {"images": int(len(y)), "class_counts": fer_data.class_counts(y),
              "original": metrics(cms["original"])}
    fp = load_ferplus_labels(data_dir, split, votes_path, votes_required)
    if fp is None:
        result["ferplus"] = None
    else:
        keep = fp >= 0
        cms["ferplus"] = confusion(fp[keep], pred[keep])
        result["ferplus"] = {"images": int(keep.sum()),
                             "left_out": int((~keep).sum()),
                             "agree_with_original": round(float((fp[keep] == y[keep]).mean()), 4),
                             **metrics(cms["ferplus"])}
    return result, cms


def evaluate(model_dir: Path, data_dir: Path, splits=("public", "private"), out: Path | None = None,
             runtime: str = "auto", flip_tta: bool = True,
             votes_path: Path | None = None) -> dict:
    """Evaluate on each split and label set; write the report files when ``out`` is given.
    ``runtime`` and ``flip_tta`` as in FacialExpressionModel (defaults: as served)."""
    from model import TRAINING_NAME, FacialExpressionModel

    if isinstance(splits, str):
        splits = (splits,)
    model = FacialExpressionModel(model_dir / "model.json", model_dir / "model_weights.h5",
                                  runtime=runtime, flip_tta=flip_tta)
    report = {"splits": {}, "split_sizes": {
        name: len(fer_data.list_split(data_dir, s))
        for s, name in (("train", "Training"), *SPLIT_NAMES.items())}}
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    for split in splits:
        result, cms = score_split(model, data_dir, split, votes_path,
                                  votes_required=votes_path is not None)
        report["splits"][SPLIT_NAMES[split]] = result
        if out is not None:
            for labels, cm in cms.items():
                acc = result[labels]["accuracy"]
                save_confusion(cm, out, f"confusion_{split}_{labels}",
                               f"{SPLIT_NAMES[split]}, {LABEL_SETS[labels]}: accuracy {acc:.3f}")
    training_file = model_dir / TRAINING_NAME
    report["training"] = json.loads(training_file.read_text()) if training_file.exists() else None
    report["model_dir"] = str(model_dir)
    report["runtime"] = model.runtime
    report["hflip_tta"] = model.flip_tta
    report["date"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    if out is not None:
        (out / "report.json").write_text(json.dumps(report, indent=2))
    return report


def format_report(r: dict) -> str:
    """A text table per split: accuracy and per-class P/R/F1 on both label sets."""
    lines = []
    for split, res in r["splits"].items():
        sets = [k for k in LABEL_SETS if res.get(k)]
        head = ", ".join(f"{LABEL_SETS[k]} {res[k]['accuracy']:.4f}" for k in sets)
        lines.append(f"{split} ({res['images']} images"
                     + (f"; FER+ majority for {res['ferplus']['images']}" if res["ferplus"] else
                        "; no FER+ votes") + f"): accuracy {head}"
                     + f" (runtime {r.get('runtime')}"
                     + (", horizontal-flip TTA)" if r.get("hflip_tta") else ", no TTA)"))
        lines.append(f"  {'class':<9}" + "".join(
            f" | {'P':>5} {'R':>5} {'F1':>5} {'n':>4}" for _ in sets) + "   ("
            + " | ".join(LABEL_SETS[k] for k in sets) + ")")
        for e in EMOTIONS:
            cells = "".join(
                f" | {res[k]['per_class'][e]['precision']:>5.3f} {res[k]['per_class'][e]['recall']:>5.3f}"
                f" {res[k]['per_class'][e]['f1']:>5.3f} {res[k]['per_class'][e]['support']:>4}"
                for k in sets)
            lines.append(f"  {e:<9}{cells}")
    return "\n".join(lines)


def markdown(r: dict) -> str:
    """The README's tables: accuracy per split and label set, and per-class recall."""
    lines = ["| split | labels | images | accuracy | macro F1 | weakest recall |",
             "|---|---|---|---|---|---|"]
    for split, res in r["splits"].items():
        for key in LABEL_SETS:
            m = res.get(key)
            if not m:
                continue
            n = res["images"] if key == "original" else m["images"]
            weakest = min(m["per_class"].items(), key=lambda kv: kv[1]["recall"])
            lines.append(f"| {split} | {'original' if key == 'original' else 'FER+ majority'} "
                         f"| {n:,} | {m['accuracy']:.4f} | {m['macro_f1']:.4f} "
                         f"| {weakest[0]} {weakest[1]['recall']:.3f} |")
    for split, res in r["splits"].items():
        lines += ["", f"{split}, per class (precision / recall):", "",
                  "| labels | " + " | ".join(EMOTIONS) + " |",
                  "|---|" + "---|" * len(EMOTIONS)]
        for key in LABEL_SETS:
            m = res.get(key)
            if m:
                lines.append(f"| {LABEL_SETS[key]} | " + " | ".join(
                    f"{m['per_class'][e]['precision']:.2f} / {m['per_class'][e]['recall']:.2f}"
                    for e in EMOTIONS) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--split", choices=("both", *sorted(SPLIT_NAMES)), default="both")
    p.add_argument("--model-dir", default=str(Path(__file__).resolve().parent))
    p.add_argument("--data", default=str(fer_data.default_data_dir()),
                   help="FER-2013 folder (default: $FER_DATA or ../shared/data/fer2013)")
    p.add_argument("--votes", default=None,
                   help="FER+ votes CSV (default: ferplus_votes.csv in --data; without it "
                        "only the original labels are scored)")
    p.add_argument("--out", default="outputs/eval", help="folder for the report files")
    p.add_argument("--runtime", choices=RUNTIMES, default="auto",
                   help="auto: as the app serves it (int8 when the export has it)")
    p.add_argument("--no-flip", action="store_true",
                   help="without the horizontal-flip test-time augmentation the app serves")
    p.add_argument("--markdown", action="store_true", help="also print the README's tables")
    args = p.parse_args(argv)
    from camera import quiet_native_logs

    quiet_native_logs()
    from ferapp.ferplus import FerPlusError
    from model import ModelLoadError

    splits = ("public", "private") if args.split == "both" else (args.split,)
    try:
        for s in splits:
            fer_data.list_split(args.data, s)
        report = evaluate(Path(args.model_dir), Path(args.data), splits, Path(args.out),
                          args.runtime, not args.no_flip,
                          Path(args.votes) if args.votes else None)
    except (fer_data.DataError, ModelLoadError, FerPlusError) as exc:
        print(f"evaluate.py: error: {exc}", file=sys.stderr)
        return 2
    print(format_report(report))
    if args.markdown:
        print()
        print(markdown(report))
    print(f"report: {Path(args.out) / 'report.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
