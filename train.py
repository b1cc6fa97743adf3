"""Train the expression CNN on FER-2013 Training, keep the best PublicTest checkpoint.

    python train.py --data ../shared/data/fer2013 --epochs 30 --out runs/compact
    python train.py --out runs/compact --resume        # continue after an interruption
"""

from __future__ import annotations

import argparse
import logging
import sys

import fer_data
from network import ARCHITECTURES


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(fer_data.default_data_dir()),
                   help="FER-2013 folder with train/ and test/ (default: $FER_DATA or "
                        "../shared/data/fer2013)")
    p.add_argument("--out", default="runs/latest", help="run folder: checkpoints, logs, export")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (Adam)")
    p.add_argument("--arch", choices=sorted(ARCHITECTURES), default="compact")
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--blur", type=float, default=3.0,
                   help="Gaussian sigma applied to PublicTest and served faces to match the "
                        "blurred Training images (0: off)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--smoke", type=int, metavar="N", default=None,
                   help="use only N training and N PublicTest images (quick check)")
    p.add_argument("--export", default=None,
                   help="folder for model.json + model_weights.h5 (default: --out)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    from training import TrainConfig, train  # imports Keras: after argument errors

    cfg = TrainConfig(
        data_dir=args.data, out_dir=args.out, arch=args.arch, epochs=args.epochs,
        batch_size=args.batch_size, learning_rate=args.lr, seed=args.seed, limit=args.smoke,
        input_blur_sigma=args.blur,
    )
    try:
        fer_data.list_split(args.data, "train")  # fail fast, before Keras starts
        _, summary = train(cfg, resume=args.resume, export_dir=args.export)
    except fer_data.DataError as exc:
        print(f"train.py: error: {exc}", file=sys.stderr)
        return 2
    print(f"best PublicTest accuracy {summary['best_public_accuracy']:.4f} after "
          f"{summary['epochs_done']} epochs; exported to {args.export or args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
