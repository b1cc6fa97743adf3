"""Aligned crops: classification of rotated PublicTest faces with and without alignment,
and the crop margin that matches how FER-2013 frames its faces.

    python bench/bench_align.py [--model-dir DIR] [--limit 600] [--detector centerface]
                                [--margins 0.9,1.0,...] [--offsets -0.04,0,0.04]

Each PublicTest face (48x48) is enlarged 3x onto a 336x336 canvas (its border extended),
rotated by 0, ±15, ±30, ±45 degrees, found by the detector, cropped (rotated upright from
the eye landmarks, or not) and classified by the served model. Accuracy counts a face the
detector misses as wrong. Baseline in the same run: the model on the original 48x48 faces.
The margin table (upright faces) chooses the crop margin on PublicTest; with --offsets it
also moves the crop centre down by a share of the box height (negative: up), as
bench/bench_crop.py does on real photos, to check there how FER-2013 frames its faces.
"""

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

from common import ROOT, shifted  # noqa: E402

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


def found_faces(detector, x, angle: float):
    """For each face, the detector's box nearest the centre of its scene at ``angle`` (or
    None): detected once per angle and shared by the measures below (the scenes are cheap
    to redraw, so only the boxes are kept)."""
    return [central(detector.detect(cv2.cvtColor(scene(face, angle), cv2.COLOR_GRAY2BGR)))
            for face in x]


def fer_framing(upright, zoom: int = 3, canvas: int = 336):
    """How FER-2013 frames a face against the detector's box, measured directly: each
    upright face's 48x48 square is known on the canvas, so the margin that reproduces it is
    its side / the box's larger side, and its vertical offset is (square centre - box
    centre) / box height. ``upright``: ``found_faces`` at angle 0. Returns the per-face
    values (found faces only) as arrays."""
    side, centre = 48 * zoom, canvas / 2
    margins, offsets = [], []
    for det in upright:
        if det is not None:
            bx, by, bw, bh = det.box
            margins.append(side / max(bw, bh))
            offsets.append((centre - (by + bh / 2)) / bh)
    return np.array(margins), np.array(offsets)


def run(model, found, x, y, angles, settings, align_modes):
    """{(angle, (margin, offset), align): (correct, found)} over all faces; ``found``
    maps each angle to its ``found_faces``."""
    stats = {}
    for angle in angles:
        crops = {k: [] for k in ((st, a) for st in settings for a in align_modes)}
        keep = np.array([det is not None for det in found[angle]])
        for face, det in zip(x, found[angle], strict=True):
            img = scene(face, angle)
            for (m, off), a in crops:
                crops[((m, off), a)].append(
                    crop_faces(img, [shifted(det, off)], 48, m, a)[0] if det else
                    np.zeros((48, 48), np.uint8))
        for (st, a), faces in crops.items():
            pred = model.predict_scores(np.stack(faces)).argmax(1)
            stats[(angle, st, a)] = (int(((pred == y) & keep).sum()), int(keep.sum()))
    return stats


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model-dir", default=str(ROOT))
    p.add_argument("--data", default=str(fer_data.default_data_dir()))
    p.add_argument("--limit", type=int, default=600)
    p.add_argument("--detector", default="centerface")
    p.add_argument("--margins", default="0.9,1.0,1.1,1.2,1.3")
    p.add_argument("--offsets", default="0",
                   help="vertical offsets of the crop centre, shares of the box height")
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
    angles = [0, 15, -15, 30, -30, 45, -45]
    found = {a: found_faces(detector, x, a) for a in angles}
    fm, fo = fer_framing(found[0])
    q = [25, 50, 75]
    print("\nFER-2013's own framing against the detector's box ({} faces found): margin "
          "{:.2f} / {:.2f} / {:.2f}, vertical offset {:+.3f} / {:+.3f} / {:+.3f} "
          "(quartiles)".format(len(fm), *np.percentile(fm, q), *np.percentile(fo, q)))
    offsets = [float(o) for o in args.offsets.split(",")]
    settings = [(m, o) for m in margins for o in offsets]
    upright = run(model, found, x, y, [0], settings, [True])
    print("\ncrop margin and vertical offset (upright faces, aligned): accuracy / found")
    best = max(settings, key=lambda st: upright[(0, st, True)][0])
    for st in settings:
        c, f = upright[(0, st, True)]
        print(f"  margin {st[0]:.2f} offset {st[1]:+.2f}: {c / n:.3f}  ({f}/{n} found)"
              f"{'  <- best' if st == best else ''}")
    stats = run(model, found, x, y, angles, [best], [True, False])
    print(f"\nrotated faces, margin {best[0]:.2f} offset {best[1]:+.2f}: accuracy with "
          f"alignment / without (faces found)")
    print(f"  {'angle':>6} {'aligned':>8} {'not aligned':>12} {'found':>7}")
    for a in angles:
        ca, f = stats[(a, best, True)]
        cn, _ = stats[(a, best, False)]
        print(f"  {a:>+5d}° {ca / n:>8.3f} {cn / n:>12.3f} {f / n:>7.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
