"""Print how sharp the FER-2013 splits are, and which Gaussian blur makes test faces match.

    python bench/data_shift.py [--data DIR]

Sharpness = variance of the Laplacian of each 48x48 image (higher is sharper).
"""

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import fer_data  # noqa: E402
from model import blur_faces  # noqa: E402


def sharpness(x):
    return np.array([cv2.Laplacian(i, cv2.CV_64F).var() for i in x])


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(fer_data.default_data_dir()))
    args = p.parse_args()
    splits = {s: fer_data.load_split(args.data, s)[0] for s in ("train", "public", "private")}
    print(f"{'split':<22} {'images':>7} {'sharpness p5/median/p95':>26} {'pixel std':>10}")
    rows = dict(splits)
    for sigma in (2.5, 3.0, 3.5):
        rows[f"public, blur sigma {sigma}"] = blur_faces(splits["public"], sigma)
    for name, x in rows.items():
        s = np.percentile(sharpness(x), [5, 50, 95])
        print(f"{name:<22} {len(x):>7} {s[0]:>9.1f} {s[1]:>7.1f} {s[2]:>8.1f} {x.std():>10.1f}")
    share = (sharpness(splits["train"]) < 20).mean()
    print(f"Training images with sharpness < 20: {share:.1%}; PublicTest: "
          f"{(sharpness(splits['public']) < 20).mean():.1%}")


if __name__ == "__main__":
    main()
