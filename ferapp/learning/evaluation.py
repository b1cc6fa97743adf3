"""Evaluate an export on FER-2013 PublicTest and PrivateTest, as the app serves it.

Each split is scored against two label sets: the original FER-2013 labels, and the FER+
majority of 10 annotators (``ferplus_votes.csv``; the rule is in ferplus.py, images
without a clear majority are left out). ``evaluate`` writes report.json and, per split and
label set, confusion_<split>_<labels>.csv and .png; ``format_report`` and ``markdown`` print
them (the README's tables come from ``markdown``).
"""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from ferapp.labels import EMOTIONS
from ferapp.learning import data as fer_data
from ferapp.learning.metrics import confusion, metrics, predict
from ferapp.system import atomic_write_text
from ferapp.vision.classifier import TRAINING_NAME, load_export

SPLIT_NAMES = {"public": "PublicTest", "private": "PrivateTest"}
LABEL_SETS = {"original": "original labels", "ferplus": "FER+ majority"}


def save_confusion(cm: np.ndarray, out: Path, stem: str, title: str):
    """Write the confusion matrix as ``stem``.csv and a row-normalised heat map ``stem``.png."""
    with open(out / f"{stem}.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["true\\predicted", *EMOTIONS])
        for e, row in zip(EMOTIONS, cm, strict=True):
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


def score_split(model, data_dir: Path, split: str, votes_path: Path | None = None,
                votes_required: bool = False) -> tuple[dict, dict]:
    """Metrics of one split on both label sets; also return the confusion matrices."""
    x, y = fer_data.load_split(data_dir, split)
    probs = predict(model, x)
    pred = probs.argmax(1)
    cms = {"original": confusion(y, pred)}
    result = {"images": int(len(y)), "class_counts": fer_data.class_counts(y),
              "original": metrics(cms["original"])}
    fp = fer_data.ferplus_labels(data_dir, split, votes_path=votes_path,
                                 required=votes_required)
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
             votes_path: Path | None = None, model=None) -> dict:
    """Evaluate on each split and label set; write the report files when ``out`` is given.
    ``runtime`` and ``flip_tta`` as in FacialExpressionModel (defaults: as served);
    ``model``: score this one (an Ensemble) instead of the export in ``model_dir``."""
    if isinstance(splits, str):
        splits = (splits,)
    model = model or load_export(model_dir, runtime=runtime, flip_tta=flip_tta)
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
    members = getattr(model, "paths", None)  # an ensemble: its exports
    report["training"] = (json.loads(training_file.read_text())
                          if training_file.exists() and not members else None)
    report["model_dir"] = [str(p) for p in members] if members else str(model_dir)
    report["runtime"] = model.runtime
    report["hflip_tta"] = model.flip_tta
    report["date"] = datetime.now(UTC).isoformat(timespec="seconds")
    if out is not None:
        atomic_write_text(out / "report.json", json.dumps(report, indent=2))
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
                f" | {c['precision']:>5.3f} {c['recall']:>5.3f} {c['f1']:>5.3f} {c['support']:>4}"
                for c in (res[k]["per_class"][e] for k in sets))
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
