"""Aligned crops: classification of rotated PublicTest faces with and without alignment,
and the crop margin that matches how FER-2013 frames its faces.

    python bench/bench_align.py [--model-dir DIR] [--limit 600] [--detector centerface]

Each PublicTest face (48x48) is enlarged 3x onto a 336x336 canvas (its border extended),
rotated by 0, ±15, ±30, ±45 degrees, found by the detector, cropped (rotated upright from
the eye landmarks, or not) and classified by the served model. Accuracy counts a face the
detector misses as wrong. Baseline in the same run: the model on the original 48x48 faces.
The margin table (upright faces) chooses the crop margin on PublicTest.
"""

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from ferapp.learning import data as fer_data  # noqa: E402
from ferapp.vision.classifier import FacialExpressionModel  # noqa: E402
from ferapp.vision.crop import crop_faces  # noqa: E402
from ferapp.vision.detect import make_detector  # noqa: E402


def scene(face: np.ndarray, angle: float, zoom: int = 3, canvas: int = 336):
    """The face enlarged on a canvas (border extended), rotated by ``angle`` degrees."""
    big = cv2.resize(face, (48 * zoom, 48 * zoom), interpolation=cv2.INTER_CUBIC)
    pad = (canvas - big.shape[0]) // 2
    img = cv2.copyMakeBorder(big, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    m = cv2.getRotationMatrix2D((canvas / 2, canvas / 2), angle, 1.0)
    return cv2.warpAffine(img, m, (canvas, canvas), borderMode=cv2.BORDER_REPLICATE)


def central(dets, canvas=336):
    if not dets:
        return None
    c = canvas / 2
    return min(dets, key=lambda d: abs(d.box[0] + d.box[2] / 2 - c)
               + abs(d.box[1] + d.box[3] / 2 - c))


def run(model, detector, x, y, angles, margins, align_modes):
    """{(angle, margin, align): (correct, found)} over all faces."""
    stats = {}
    for angle in angles:
        crops = {k: [] for k in ((m, a) for m in margins for a in align_modes)}
        keep = []
        for face in x:
            img = scene(face, angle)
            det = central(detector.detect(cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)))
            keep.append(det is not None)
            for m, a in crops:
                crops[(m, a)].append(crop_faces(img, [det], 48, m, a)[0] if det else
                                     np.zeros((48, 48), np.uint8))
        keep = np.array(keep)
        for (m, a), faces in crops.items():
            pred = model.predict_scores(np.stack(faces)).argmax(1)
            stats[(angle, m, a)] = (int(((pred == y) & keep).sum()), int(keep.sum()))
    return stats


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model-dir", default=str(ROOT))
    p.add_argument("--data", default=str(fer_data.default_data_dir()))
    p.add_argument("--limit", type=int, default=600)
    p.add_argument("--detector", default="centerface")
    p.add_argument("--margins", default="0.9,1.0,1.1,1.2,1.3")
    args = p.parse_args(argv)
    d = Path(args.model_dir)
    model = FacialExpressionModel(d / "model.json", d / "model_weights.h5")
    x, y = fer_data.load_split(args.data, "public", limit=args.limit)
    detector = make_detector(args.detector, width=None)
    base = (model.predict_scores(x).argmax(1) == y).mean()
    n = len(y)
    margins = [float(m) for m in args.margins.split(",")]
    print(f"{n} PublicTest faces, detector {args.detector}; baseline (the 48x48 faces as "
          f"given): accuracy {base:.3f}")
    upright = run(model, detector, x, y, [0], margins, [True])
    print("\ncrop margin (upright faces, aligned): accuracy / found")
    best = max(margins, key=lambda m: upright[(0, m, True)][0])
    for m in margins:
        c, f = upright[(0, m, True)]
        print(f"  margin {m:.2f}: {c / n:.3f}  ({f}/{n} found){'  <- best' if m == best else ''}")
    angles = [0, 15, -15, 30, -30, 45, -45]
    stats = run(model, detector, x, y, angles, [best], [True, False])
    print(f"\nrotated faces, margin {best:.2f}: accuracy with alignment / without "
          f"(faces found)")
    print(f"  {'angle':>6} {'aligned':>8} {'not aligned':>12} {'found':>7}")
    for a in angles:
        ca, f = stats[(a, best, True)]
        cn, _ = stats[(a, best, False)]
        print(f"  {a:>+5d}° {ca / n:>8.3f} {cn / n:>12.3f} {f / n:>7.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
