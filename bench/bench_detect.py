"""Face detectors on the real photos and videos of the dev set, against Haar in the same run.

    python bench/bench_detect.py [--devset DIR] [--quick]

Per detector and setting: frontal-face recall (a labelled frontal box matched by a
detection with IoU >= 0.4), false boxes (detections >= 20 px that match no labelled face,
profiles included; every detection on a no-face photo is false), recall by category, and
ms per 640x480 frame (median, the same frame for all). Photos are searched the way the app
searches stills (``detect_still``) and, for comparison, at the live working width. On the
dev videos: share of frames with a face and face-count changes per 100 frames (flicker).
Data: $FER_DEVSET or ../shared/data/devset (photos/boxes.csv, photos/manifest.csv).
"""
import argparse
import csv
import os
import statistics
import sys
import time
from collections import defaultdict
from itertools import pairwise
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from ferapp.vision.boxes import iou  # noqa: E402
from ferapp.vision.detect import make_detector  # noqa: E402
from ferapp.vision.intake import decode_image  # noqa: E402

CATEGORIES = [("single_frontal", "single"), ("single_glasses", "single"),
              ("single_tilt", "tilted"), ("single_occluded", "occluded"),
              ("single_small", "small"), ("threequarter", "three-quarter"),
              ("group", "group"), ("crowd", "crowd"), ("profile", "profile"),
              ("noface", "no face")]


def category(name: str) -> str:
    for prefix, cat in CATEGORIES:
        if name.startswith(prefix):
            return cat
    return "other"


def load_devset(root: Path):
    boxes = defaultdict(list)
    with open(root / "photos" / "boxes.csv") as f:
        for r in csv.DictReader(f):
            boxes[r["file"]].append(((int(r["x"]), int(r["y"]), int(r["w"]), int(r["h"])),
                                     r["kind"]))
    with open(root / "photos" / "manifest.csv") as f:
        files = [r["file"] for r in csv.DictReader(f)]
    photos = []
    for name in files:
        image = decode_image((root / "photos" / name).read_bytes(), work_side=None).image
        photos.append((name, image, boxes.get(name, [])))
    return photos


def score_photo(dets, labelled):
    """(frontal found, frontal total, false boxes) with greedy IoU >= 0.4 matching."""
    frontal = [b for b, k in labelled if k == "frontal"]
    profile = [b for b, k in labelled if k != "frontal"]
    used, found, false = set(), 0, 0
    for d in sorted(dets, key=lambda d: -d.score):
        best, best_iou = None, 0.4
        for i, b in enumerate(frontal):
            v = iou(d.box, b)
            if i not in used and v >= best_iou:
                best, best_iou = i, v
        if best is not None:
            used.add(best)
            found += 1
        elif not any(iou(d.box, b) >= 0.3 for b in profile) and \
                not any(iou(d.box, b) >= 0.3 for b in frontal) and d.box[2] >= 20:
            false += 1
    return found, len(frontal), false


def frame_ms(det, frame, n=30):
    det.detect(frame)
    times = []
    for _ in range(n):
        t = time.perf_counter()
        det.detect(frame)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def videos(det, root: Path, every: int = 2):
    rows = []
    from ferapp.labels import EMOTIONS
    from ferapp.vision.pipeline import FaceResult
    from ferapp.vision.tracking import FaceTracker

    people = {}
    with open(root / "videos" / "manifest.csv") as f:
        for r in csv.DictReader(f):
            people[Path(r["file"]).stem] = r["people"]
    for path in sorted((root / "videos").glob("*.mp4")):
        cap = cv2.VideoCapture(str(path))
        fps = cap.get(cv2.CAP_PROP_FPS) or 25
        tracker = FaceTracker(max_gap=max(1, round(fps / every)))
        counts, ids, i = [], set(), 0
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            if i % every == 0:
                if frame.shape[1] > 640:
                    frame = cv2.resize(frame, (640, round(frame.shape[0] * 640 / frame.shape[1])))
                dets = det.detect(frame)
                counts.append(len(dets))
                fake = [FaceResult(d.box, dict.fromkeys(EMOTIONS, 1.0 / 7)) for d in dets]
                ids |= {r.face_id for r in tracker.update(i // every, fake)}
            i += 1
        cap.release()
        changes = sum(1 for a, b in pairwise(counts) if a != b)
        rows.append((path.stem, len(counts), np.mean([c > 0 for c in counts]),
                     100 * changes / max(1, len(counts) - 1), np.median(counts), len(ids),
                     people.get(path.stem, "?")))
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--devset", default=os.environ.get(
        "FER_DEVSET", str(ROOT.parent / "shared" / "data" / "devset")))
    p.add_argument("--quick", action="store_true", help="fewer settings, no videos")
    args = p.parse_args(argv)
    root = Path(args.devset)
    if not (root / "photos" / "boxes.csv").is_file():
        print(f"bench_detect.py: error: no dev set at {root} (photos/boxes.csv)", file=sys.stderr)
        return 2
    photos = load_devset(root)
    import matplotlib.cbook

    hopper = cv2.imread(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    frame = cv2.resize(hopper, (640, 480))
    settings = [("haar", {"width": 288}), ("haar", {"width": None}),
                ("yunet", {"width": 320}), ("yunet", {"width": 320, "threshold": 0.7}),
                ("yunet", {"width": 640}),
                ("centerface", {"width": 320, "threshold": 0.5}), ("centerface", {"width": 320}),
                ("centerface", {"width": 480}), ("centerface", {"width": 640})]
    if args.quick:
        settings = [("haar", {"width": 288}), ("yunet", {"width": 320}),
                    ("centerface", {"width": 320})]
    cats = sorted({category(n) for n, _, _ in photos} - {"no face"})
    print(f"dev set: {len(photos)} photos, "
          f"{sum(k == 'frontal' for _, _, b in photos for _, k in b)} frontal faces")
    header = (f"{'detector':<18} {'mode':<6} {'recall':>12} {'false':>5} {'noface':>6} "
              f"{'ms/640x480':>10} {'vs haar':>7}  " + " ".join(f"{c[:9]:>9}" for c in cats))
    print(header)
    base_ms = None
    for name, kw in settings:
        det = make_detector(name, **kw)
        ms = frame_ms(det, frame)
        base_ms = base_ms or ms
        for mode in ("still", "live"):
            found = total = false = noface = 0
            by_cat = defaultdict(lambda: [0, 0])
            for fname, image, labelled in photos:
                dets = det.detect_still(image) if mode == "still" else det.detect(image)
                f, t, fa = score_photo(dets, labelled)
                found, total, false = found + f, total + t, false + fa
                c = category(fname)
                if c == "no face":
                    noface += len(dets)
                by_cat[c][0] += f
                by_cat[c][1] += t
            label = f"{name} {kw.get('width') or 'full'}" + (
                f" t{kw['threshold']}" if "threshold" in kw else "")
            cells = " ".join(f"{by_cat[c][0]:>4}/{by_cat[c][1]:<4}" for c in cats)
            print(f"{label:<18} {mode:<6} {found:>4}/{total} {found / total:>5.1%} {false:>5} "
                  f"{noface:>6} {ms:>10.1f} {ms / base_ms:>6.2f}x  {cells}", flush=True)
    if not args.quick:
        print("\nvideos (every 2nd frame, 640 px wide): frames with a face, count changes "
              "per 100 frames, median faces, distinct track ids (tracker gap: 1 s)")
        for name, kw in [("haar", {"width": 288}), ("yunet", {"width": 320}),
                         ("centerface", {"width": 320})]:
            det = make_detector(name, **kw)
            for clip, n, share, flicker, med, ids, people in videos(det, root):
                print(f"  {name:<10} {clip:<22} {n:>4} frames  with face {share:>6.1%}  "
                      f"changes/100 {flicker:>5.1f}  median faces {med:.0f}  "
                      f"track ids {ids} (people: {people})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
