"""Check that the FER-2013 splits are alike in sharpness (a bad copy is caught here).

    python bench/data_shift.py [--data DIR] [--max-ratio 2]

Sharpness = variance of the Laplacian of each 48x48 image (higher is sharper). The copy
of the Training images this project first had was blurred by the mirror it came from
(median about 6 against about 2,100 for the test splits); a network trained on it could
not read sharp faces. Exits 1 when a split's median sharpness differs from PublicTest's
by more than --max-ratio (either way).
"""

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from ferapp.learning import data as fer_data  # noqa: E402


def sharpness(x):
    return np.array([cv2.Laplacian(i, cv2.CV_64F).var() for i in x])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(fer_data.default_data_dir()))
    p.add_argument("--max-ratio", type=float, default=2.0)
    args = p.parse_args(argv)
    try:
        splits = {s: fer_data.load_split(args.data, s)[0] for s in ("train", "public", "private")}
    except fer_data.DataError as exc:
        print(f"data_shift.py: error: {exc}", file=sys.stderr)
        return 2
    print(f"{'split':<9} {'images':>7} {'sharpness p5/median/p95':>26} {'< 20':>6} "
          f"{'pixel mean':>10} {'pixel std':>9}")
    medians = {}
    for name, x in splits.items():
        s = sharpness(x)
        q = np.percentile(s, [5, 50, 95])
        medians[name] = q[1]
        print(f"{name:<9} {len(x):>7} {q[0]:>9.1f} {q[1]:>7.1f} {q[2]:>8.1f} "
              f"{(s < 20).mean():>6.1%} {x.mean():>10.1f} {x.std():>9.1f}")
    bad = [n for n, m in medians.items()
           if max(m, medians["public"]) / max(min(m, medians["public"]), 1e-9) > args.max_ratio]
    if bad:
        print(f"NOT ALIKE: median sharpness of {', '.join(bad)} differs from PublicTest by more "
              f"than {args.max_ratio}x: check the copy of the data")
        return 1
    print(f"alike: every split's median sharpness is within {args.max_ratio}x of PublicTest's")
    return 0


if __name__ == "__main__":
    sys.exit(main())
