"""Train the expression CNN on FER-2013 Training, keep the best PublicTest checkpoint.

    python train.py --data ../shared/data/fer2013 --epochs 30 --out runs/compact
    python train.py --out runs/compact --resume        # continue after an interruption
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ferapp.labels import per_class
from ferapp.learning import data as fer_data
from ferapp.learning.architectures import ARCHITECTURES, PRECISIONS
from ferapp.learning.ferplus import FerPlusError
from ferapp.vision.classifier import JSON_NAME, ModelLoadError, weights_file
from ferapp.vision.models import check_members


def add_target_options(p):
    """The training target (labels and FER+ votes), augmentation, and the class bias."""
    p.add_argument("--target-mix", type=float, default=0.0, metavar="W",
                   help="training target = (1-W) one-hot original label + W FER+ vote "
                        "distribution (0: original labels only; needs ferplus_votes.csv)")
    p.add_argument("--votes", default=None,
                   help="FER+ votes CSV (default: ferplus_votes.csv in --data)")
    p.add_argument("--rotation", type=float, default=10.0, help="max rotation, degrees")
    p.add_argument("--erase", type=float, default=0.0, metavar="P",
                   help="probability of random erasing per training face")
    p.add_argument("--photo-aug", type=float, default=0.0, metavar="P",
                   help="probability per training face of what real photos add: blur, JPEG, "
                        "low light, noise, low contrast")
    p.add_argument("--mixup", type=float, default=0.0, metavar="ALPHA",
                   help="mixup: blend each training face and its target with another's, "
                        "by a proportion from Beta(ALPHA, ALPHA), e.g. 0.2 (0: off)")
    p.add_argument("--class-weight", default=None, metavar="CLASS=W,...",
                   help="weigh the loss of faces by their original label, e.g. fear=1.5 "
                        "(classes not named weigh 1; weights scaled to a mean of 1)")
    p.add_argument("--min-recall", type=float, default=0.0, metavar="R",
                   help="after training, tune a per-class output bias on PublicTest so the "
                        "weakest class's recall is at least R (0: off)")
    p.add_argument("--bias-floors", default=None, metavar="ORIG,FERPLUS",
                   help="with --min-recall: choose the bias to keep the accuracy on the "
                        "original labels and on the FER+ majority above these floors, and "
                        "every class's recall above R, with the widest margin (instead of "
                        "maximising the mean accuracy), e.g. 0.69,0.76")
    p.add_argument("--recalibrate", action="store_true",
                   help="no training: choose the class bias anew for the finished run "
                        "exported to --export/--out (from its uncalibrated/ export) with "
                        "--min-recall and --bias-floors, and export it again")
    p.add_argument("--export-epoch", type=int, default=None, metavar="N",
                   help="no training: export epoch N of the finished run in --out (its "
                        "snapshot; the run needs --snapshots) instead of its best checkpoint, "
                        "calibrated with --min-recall/--bias-floors, to --export (default: "
                        "<out>/epoch-NNN)")
    p.add_argument("--soup", nargs="+", default=None, metavar="EXPORT",
                   help="no training: average the weights of these exports of one "
                        "architecture (e.g. students warm-started from one model; each "
                        "export's class bias taken out), recompute batch-norm statistics, "
                        "calibrate with --min-recall/--bias-floors and export to "
                        "--export/--out")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(fer_data.default_data_dir()),
                   help="FER-2013 folder with train/ and test/ (default: $FER_DATA or "
                        "../shared/data/fer2013)")
    p.add_argument("--out", default="runs/latest", help="run folder: checkpoints, logs, export")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3, help="peak learning rate")
    p.add_argument("--optimizer", choices=("adam", "adamw", "sgd"), default="adam",
                   help="adam, adamw (decoupled weight decay) or sgd (Nesterov momentum 0.9)")
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--dropout", type=float, default=0.3, help="dropout in the dense head")
    add_target_options(p)
    p.add_argument("--arch", choices=sorted(ARCHITECTURES), default="compact")
    p.add_argument("--init", default=None, metavar="WEIGHTS",
                   help="warm start from these weights (an export folder or its "
                        "model_weights.h5, same --arch; the class bias the export records "
                        "is taken out first); the schedule starts anew")
    p.add_argument("--teacher", action="append", default=None, metavar="EXPORT",
                   help="distil from a trained export (folder or model_weights.h5; '.' is "
                        "the shipped model): its flip-averaged predictions on the Training "
                        "faces take --teacher-mix of every target; repeat it to distil an "
                        "ensemble (the teachers' probabilities averaged)")
    p.add_argument("--teacher-mix", type=float, default=0.5, metavar="W",
                   help="the teacher's share of each target (with --teacher)")
    p.add_argument("--teacher-temperature", type=float, default=1.0, metavar="T",
                   help="soften the teacher's distribution: p ∝ p_teacher^(1/T)")
    p.add_argument("--teacher-view", choices=("clean", "augmented"), default="clean",
                   help="what the teacher sees: each Training face once, un-augmented and "
                        "flip-averaged (clean), or every batch as the student sees it, "
                        "augmented and mixed (augmented: consistent teaching)")
    p.add_argument("--snapshots", action="store_true",
                   help="keep every epoch's weights in <out>/snapshots/ (weight averaging)")
    p.add_argument("--average-last", type=int, default=0, metavar="K",
                   help="after training, also try averaging the last 2..K epochs' weights "
                        "(needs --snapshots); export it if it beats the best checkpoint on "
                        "PublicTest")
    p.add_argument("--precision", choices=PRECISIONS, default="float32",
                   help="compute dtype while training (mixed_bfloat16: bfloat16 compute, "
                        "float32 weights; faster on CPUs with AMX/AVX512-BF16); the export "
                        "is float32 either way")
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--distribute", action="store_true",
                   help="data parallel over all devices of the JAX backend (KERAS_BACKEND="
                        "jax): --batch-size per device, learning rate x devices")
    p.add_argument("--smoke", type=int, metavar="N", default=None,
                   help="use only N training and N PublicTest images (quick check)")
    p.add_argument("--export", default=None,
                   help="folder for model.json + model_weights.h5 (default: --out)")
    return p.parse_args(argv)


def fail(message) -> int:
    print(f"train.py: error: {message}", file=sys.stderr)
    return 2


def parse_floors(text: str | None):
    """--bias-floors as (original, FER+), None when not given; ValueError when malformed."""
    if text is None:
        return None
    try:
        floors = tuple(float(f) for f in text.split(","))
    except ValueError:
        floors = ()
    if len(floors) != 2 or not all(0 < f < 1 for f in floors):
        raise ValueError("--bias-floors takes two accuracies between 0 and 1, e.g. 0.69,0.76")
    return floors


def parse_class_weight(text: str | None):
    """--class-weight as {class: weight}, None when not given; ValueError when malformed."""
    if text is None:
        return None
    weights = {}
    for item in text.split(","):
        name, _, value = item.partition("=")
        try:
            weights[name.strip()] = float(value)
        except ValueError:
            raise ValueError(f"--class-weight takes CLASS=W pairs, e.g. fear=1.5; got {item!r}") \
                from None
    try:
        per_class(weights, 1.0)
    except ValueError as exc:
        raise ValueError(f"--class-weight: {exc}") from None
    if not all(w > 0 for w in weights.values()):
        raise ValueError("--class-weight: every weight must be above 0")
    return weights


def check_args(args) -> str | None:
    """What is wrong with the options or the files they name (one line), or None: found
    before Keras starts (and prints its own start-up lines)."""
    for flag, share in (("--target-mix", args.target_mix), ("--photo-aug", args.photo_aug)):
        if not 0 <= share <= 1:
            return f"{flag} must be between 0 and 1"
    if not 0 <= args.mixup <= 100:
        return "--mixup takes a Beta parameter between 0 (off) and 100, e.g. 0.2"
    if args.teacher and not (0 < args.teacher_mix <= 1 and args.teacher_temperature > 0):
        return "--teacher-mix must be in (0, 1] and --teacher-temperature above 0"
    try:
        floors = parse_floors(args.bias_floors)
        parse_class_weight(args.class_weight)
    except ValueError as exc:
        return str(exc)
    if (args.recalibrate or floors) and not args.min_recall > 0:
        return "--recalibrate and --bias-floors need --min-recall R > 0"
    if args.export_epoch is not None and (args.export_epoch < 1 or args.soup or args.resume
                                          or args.recalibrate or args.teacher or args.init):
        return "--export-epoch takes an epoch from 1 and trains nothing: it does not go " \
               "with --soup, --recalibrate, --resume, --teacher or --init"
    if args.soup is not None and len(args.soup) < 2:
        return "--soup needs at least two exports"
    if args.soup and (args.recalibrate or args.resume or args.teacher or args.init):
        return "--soup trains nothing: it does not go with --recalibrate, --resume, " \
               "--teacher or --init"
    try:
        fer_data.list_split(args.data, "train")
        if args.init and not args.resume:
            weights_file(args.init)
        for path in args.teacher or ():
            teacher = weights_file(path)
            if not (teacher.parent / JSON_NAME).is_file():
                raise ModelLoadError(f"teacher {path} has no model.json beside {teacher.name}")
        if args.teacher and len(args.teacher) > 1:
            check_members(args.teacher)  # the same labels and input size
        for path in args.soup or ():
            weights_file(path)
        if args.soup:
            check_members(args.soup)
            target = Path(args.export or args.out).resolve()
            if any(Path(p).resolve() in (target, target / "uncalibrated") for p in args.soup):
                return (f"--soup would write over its own export {args.export or args.out}: "
                        "give --out (or --export) a new folder")
    except (fer_data.DataError, ModelLoadError) as exc:
        return str(exc)
    return None


def config_from(args):
    """The TrainConfig the options describe."""
    from ferapp.learning.config import TrainConfig

    return TrainConfig(
        data_dir=args.data, out_dir=args.out, arch=args.arch, epochs=args.epochs,
        batch_size=args.batch_size, learning_rate=args.lr, seed=args.seed, limit=args.smoke,
        optimizer=args.optimizer, weight_decay=args.weight_decay, dropout=args.dropout,
        target_mix=args.target_mix, votes_path=args.votes, rotation_deg=args.rotation,
        erase_prob=args.erase, photo_prob=args.photo_aug, min_recall=args.min_recall,
        mixup=args.mixup, distribute=args.distribute, init_weights=args.init,
        snapshots=args.snapshots, average_last=args.average_last, precision=args.precision,
        teacher=args.teacher and (args.teacher[0] if len(args.teacher) == 1 else args.teacher),
        teacher_mix=args.teacher_mix if args.teacher else 0.0,
        teacher_temperature=args.teacher_temperature, teacher_view=args.teacher_view,
        class_weight=parse_class_weight(args.class_weight),
        bias_floors=parse_floors(args.bias_floors),
    )


def report(what: str, summary: dict, export_dir: str) -> int:
    """The one line of PublicTest scores printed after training, a soup, an epoch export."""
    fp = summary["best_public_accuracy_ferplus"]
    print(f"{what}: PublicTest (fp32, no flip) accuracy {summary['best_public_accuracy']:.4f}"
          + (f", FER+ {fp:.4f}" if fp is not None else "")
          + " before any class bias; exported to " + export_dir)
    return 0


def report_bias(summary: dict, export_dir: str) -> int:
    """The one line printed after --recalibrate: the new class bias and its PublicTest scores."""
    after = summary["class_bias"]["after"]
    print(f"class bias {summary['class_bias']['bias']}: PublicTest as served "
          f"accuracy {after['accuracy']:.4f}, FER+ {after['accuracy_ferplus']}, weakest "
          f"recall {after['weakest_class']} {after['weakest_recall']:.3f}; exported to "
          f"{export_dir}")
    return 0


def run(args, cfg) -> int:
    """Train, or the job that trains nothing (--recalibrate, --export-epoch, --soup); a known
    failure (data, votes, a model file, the distribution strategy) is a one-line error."""
    from ferapp.learning import posthoc, trainer
    from ferapp.learning.config import DistributeError

    export_dir, epoch = args.export or args.out, args.export_epoch
    try:
        if args.recalibrate:
            return report_bias(posthoc.recalibrate(cfg, export_dir), export_dir)
        if epoch:
            export_dir = args.export or str(Path(args.out) / f"epoch-{epoch:03d}")
            return report(f"epoch {epoch}", posthoc.export_epoch(cfg, epoch, export_dir),
                          export_dir)
        if args.soup:
            return report(f"soup of {len(args.soup)} exports",
                          posthoc.soup(cfg, args.soup, export_dir), export_dir)
        _, summary = trainer.train(cfg, resume=args.resume, export_dir=args.export)
    except (fer_data.DataError, FerPlusError, DistributeError, ModelLoadError) as exc:
        return fail(exc)
    best = summary["best_epoch"]  # an epoch number, or "average of epochs A-B"
    exported = best if isinstance(best, str) else f"epoch {best}, the best"
    return report(f"{summary['epochs_done']} epochs trained, exported {exported}", summary,
                  export_dir)


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    problem = check_args(args)
    if problem:
        return fail(problem)
    return run(args, config_from(args))


if __name__ == "__main__":
    sys.exit(main())
