"""Evaluate the shipped (or any) model on FER-2013 PublicTest and PrivateTest.

    python evaluate.py [--split both|private|public] [--model-dir DIR] [--out DIR]
                       [--runtime auto|int8|onnx|keras] [--no-flip] [--markdown]

Scores the model as the app serves it (by default: the int8 ONNX model when the export
has one, with horizontal-flip test-time augmentation), on the original FER-2013 labels and
on the FER+ majority of 10 annotators. Writes into --out: report.json (both splits:
accuracy, macro F1, per-class precision/recall/F1, split sizes, training settings, date)
and, per split and label set, confusion_<split>_<labels>.csv and .png
(ferapp.learning.evaluation).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ferapp.learning import data as fer_data
from ferapp.learning.evaluation import SPLIT_NAMES, evaluate, format_report, markdown
from ferapp.learning.ferplus import FerPlusError
from ferapp.system import REPO_ROOT, quiet_native_logs
from ferapp.vision.classifier import RUNTIMES, ModelLoadError


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--split", choices=("both", *sorted(SPLIT_NAMES)), default="both")
    p.add_argument("--model-dir", default=str(REPO_ROOT))
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
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    quiet_native_logs()
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
