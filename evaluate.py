"""Evaluate the shipped (or any) model on FER-2013 PublicTest and PrivateTest.

    python evaluate.py [--split both|private|public] [--model-dir DIR] [--out DIR]
                       [--runtime auto|int8|onnx|keras] [--no-flip] [--markdown]
    python evaluate.py --photos DIR [--detector centerface|yunet|haar]   # real photos
    python evaluate.py --ensemble EXPORT EXPORT ...   # several exports averaged, as one

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
from ferapp.learning import ferplus
from ferapp.learning.evaluation import SPLIT_NAMES, evaluate, format_report, markdown
from ferapp.learning.ferplus import FerPlusError
from ferapp.learning.photos import (
    PhotoFolderError,
    format_photo_report,
    labelled_photos,
    score_photos,
)
from ferapp.system import REPO_ROOT, progress_bar, quiet_native_logs
from ferapp.vision.classifier import RUNTIMES, ModelLoadError, load_export
from ferapp.vision.detect import DEFAULT_DETECTOR, DETECTORS, DetectorUnavailable, make_detector
from ferapp.vision.models import Ensemble, check_members
from ferapp.vision.pipeline import ExpressionPipeline


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
    p.add_argument("--ensemble", nargs="+", default=None, metavar="EXPORT",
                   help="score these exports as one model: the mean of their probabilities, "
                        "each face averaged with its mirror image (same labels and input size)")
    p.add_argument("--photos", default=None, metavar="DIR",
                   help="instead of FER-2013: score a folder of labelled photos "
                        "(<emotion>/<source>_<name>.jpg) through the app's still-image path, "
                        "the largest face of each (e.g. ../shared/data/wilddev)")
    p.add_argument("--detector", choices=DETECTORS, default=DEFAULT_DETECTOR,
                   help="with --photos: the face detector")
    return p.parse_args(argv)


def fail(message) -> int:
    print(f"evaluate.py: error: {message}", file=sys.stderr)
    return 2


def main_photos(args) -> int:
    """--photos DIR: accuracy, per-class recall and per-source accuracy on real photos."""
    try:
        labelled_photos(args.photos)  # a bad folder is an error before the model loads
        model = load_export(args.model_dir, runtime=args.runtime, flip_tta=not args.no_flip)
        pipeline = ExpressionPipeline(model, make_detector(args.detector), still=True)
    except (PhotoFolderError, ModelLoadError, DetectorUnavailable) as exc:
        return fail(exc)

    def unreadable(path, why):
        print(f"evaluate.py: skipped {path}: {why}", file=sys.stderr)

    report = score_photos(args.photos, pipeline, on_unreadable=unreadable,
                          progress=lambda items: progress_bar(len(items), "photo", items))
    print(format_photo_report(report, f"{Path(args.photos).name} ({model.runtime}"
                              + (", flip TTA)" if model.flip_tta else ")")))
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    quiet_native_logs()
    if args.photos:
        return main_photos(args)
    splits = ("public", "private") if args.split == "both" else (args.split,)
    try:
        for s in splits:
            fer_data.list_split(args.data, s)
        if args.votes:  # a bad votes file is an error before the model loads
            ferplus.read_votes(args.votes, args.data)
        if args.ensemble:
            check_members(args.ensemble)  # before any model loads
        model = Ensemble(args.ensemble, args.runtime) if args.ensemble else None
        report = evaluate(Path(args.model_dir), Path(args.data), splits, Path(args.out),
                          args.runtime, not args.no_flip,
                          Path(args.votes) if args.votes else None, model=model)
    except (fer_data.DataError, ModelLoadError, FerPlusError) as exc:
        return fail(exc)
    print(format_report(report))
    if args.markdown:
        print()
        print(markdown(report))
    print(f"report: {Path(args.out) / 'report.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
