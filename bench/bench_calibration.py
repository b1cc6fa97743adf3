"""The class-bias trade-off: accuracy on both label sets against the weakest class's recall.

    python bench/bench_calibration.py [--model-dir runs/RUN/uncalibrated] [--floors 0,0.3,0.4]
                                      [--accuracy-floors 0.69,0.76] [--limit N]

For each recall floor, the per-class output bias is chosen on PublicTest
(ferapp.learning.class_bias.tune_class_bias, as ``train.py --min-recall`` does) and then applied to
PrivateTest, on the scores as served (the export's int8 model when it has one, flip TTA).
Two objectives: ``mean`` maximises the mean of the two accuracies with the weakest recall
held at the floor; ``targets`` (``train.py --bias-floors``) keeps both accuracies above
``--accuracy-floors`` and every class's recall above the floor with the widest margin.
The model dir must hold an uncalibrated export (model.json, model_weights.h5, and
model.int8.onnx to score the int8 path): what ``train.py`` writes without --min-recall, or
into ``<run>/uncalibrated`` with it. The default is the shipped model's run folder
(``config.out_dir`` in training.json).
"""

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from ferapp.learning import data as fer_data  # noqa: E402
from ferapp.learning.metrics import headline  # noqa: E402
from ferapp.vision.classifier import FacialExpressionModel, ModelLoadError  # noqa: E402


def shipped_run_export() -> Path:
    """``<run>/uncalibrated`` of the run the shipped model came from."""
    run = json.loads((ROOT / "training.json").read_text())["config"]["out_dir"]
    return ROOT / run / "uncalibrated"


def main(argv=None):
    from ferapp.learning.class_bias import tune_class_bias

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model-dir", default=None,
                   help="uncalibrated export (default: the shipped model's run folder + "
                        "/uncalibrated)")
    p.add_argument("--data", default=str(fer_data.default_data_dir()))
    p.add_argument("--floors", default="0,0.3,0.35,0.4")
    p.add_argument("--accuracy-floors", default="0.69,0.76",
                   help="original and FER+ accuracy floors of the 'targets' objective")
    p.add_argument("--limit", type=int, default=None, metavar="N",
                   help="an evenly spaced N images of each split (a quick check; the "
                        "figures to report use all)")
    args = p.parse_args(argv)
    try:
        d = Path(args.model_dir) if args.model_dir else shipped_run_export()
        model = FacialExpressionModel(d / "model.json", d / "model_weights.h5")
    except (ModelLoadError, OSError, KeyError, ValueError) as e:
        print(f"bench_calibration.py: error: {e}", file=sys.stderr)
        return 2
    splits = {}
    for split in ("public", "private"):
        x, y = fer_data.load_split(args.data, split, args.limit)
        fp = fer_data.ferplus_labels(args.data, split, args.limit, required=True)
        splits[split] = (np.log(np.clip(model.predict_scores(x), 1e-9, 1)), y, fp)
    acc_floors = tuple(float(f) for f in args.accuracy_floors.split(","))
    print(f"{'floor':>5} {'objective':<9} {'split':<8} {'original':>8} {'FER+':>6} "
          f"{'weakest recall':>18}  recall per class (original labels)")
    rows = [(0.0, "none")] + [(float(f), o) for f in args.floors.split(",") if float(f)
                              for o in ("mean", "targets")]
    for floor, objective in rows:
        bias = np.zeros(7)
        if objective != "none":
            bias, _ = tune_class_bias(*splits["public"], floor,
                                      floors=acc_floors if objective == "targets" else None)
        for split, (lp, y, fp) in splits.items():
            h = headline((lp + bias).argmax(1), y, fp)
            print(f"{floor:>5.2f} {objective:<9} {split:<8} {h['accuracy']:>8.4f} "
                  f"{h['accuracy_ferplus']:>6.4f} {h['weakest_class']:>12} "
                  f"{h['weakest_recall']:.3f}  "
                  + " ".join(f"{e[:3]} {r:.2f}" for e, r in h["recall"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
