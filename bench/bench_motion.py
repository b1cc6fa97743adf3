"""Detect less, keep every face: the motion-carried locator (detector every k-th frame,
optical flow in between) against detecting every frame, on the dev videos and a 4-face
640x480 clip made from them; and the old way (reuse the last boxes between passes).

    python bench/bench_motion.py [--devset DIR] [--ks 1,2,3,4,5] [--frames 150]

Per clip and k: faces kept (of the faces the every-frame detector finds, the share a
located box covers with IoU >= 0.4), the mean IoU of those pairs, the share of frames the
detector ran on, and ms per frame of locating. "detector jitter" is the every-frame
detector's own mean IoU between a face's boxes on consecutive frames: how close two
detector passes are to each other.
"""

import argparse
import itertools
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

from common import clip_frames, devset_dir, four_face_clip  # noqa: E402

import numpy as np  # noqa: E402

from ferapp.system import cpu_name  # noqa: E402
from ferapp.vision.boxes import iou  # noqa: E402
from ferapp.vision.detect import make_detector  # noqa: E402
from ferapp.vision.motion import DEFAULT_DETECT_EVERY, FaceLocator  # noqa: E402

MATCH = 0.4


class ReuseBoxes:
    """The old way: the detector on every k-th frame, its boxes reused unchanged between."""

    def __init__(self, detect, every):
        self.detect, self.every, self.n, self.faces, self.detections = detect, every, 0, [], 0

    def __call__(self, frame):
        if self.n % self.every == 0:
            self.faces = self.detect(frame)
            self.detections += 1
        self.n += 1
        return self.faces


def score(frames, reference, locator):
    kept = total = 0
    overlaps, spent = [], 0.0
    for f, truth in zip(frames, reference, strict=True):
        t = time.perf_counter()
        got = locator(f)
        spent += time.perf_counter() - t
        total += len(truth)
        for d in truth:
            best = max((iou(g.box, d.box) for g in got), default=0.0)
            if best >= MATCH:
                kept += 1
                overlaps.append(best)
    return (kept / max(1, total), float(np.mean(overlaps)) if overlaps else 0.0,
            locator.detections / len(frames), 1000 * spent / len(frames), total)


def jitter(reference):
    pairs = [max((iou(a.box, b.box) for b in nxt), default=0.0)
             for cur, nxt in itertools.pairwise(reference) for a in cur]
    pairs = [p for p in pairs if p >= MATCH]
    return float(np.mean(pairs)) if pairs else float("nan")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--devset", default=str(devset_dir()))
    p.add_argument("--ks", default="1,2,3,4,5")
    p.add_argument("--frames", type=int, default=150)
    args = p.parse_args()
    ks = [int(k) for k in args.ks.split(",")]
    devset = Path(args.devset)
    clips = {c.stem: clip_frames(c, args.frames) for c in sorted((devset / "videos").glob("*.mp4"))}
    clips["four_faces (made)"] = four_face_clip(devset, 2 * args.frames)
    detector = make_detector()
    print(f"{cpu_name()}; default detector at 640 px; served DEFAULT_DETECT_EVERY = "
          f"{DEFAULT_DETECT_EVERY}; kept = IoU >= {MATCH} with an every-frame detection")
    print(f"{'clip':<22}{'way':<8}{'k':>3}{'kept':>9}{'mean IoU':>10}{'detector':>10}"
          f"{'ms/frame':>10}")
    totals = {}
    for name, frames in clips.items():
        reference = [detector.detect(f) for f in frames]
        print(f"{name:<22}detector jitter (consecutive frames' mean IoU): {jitter(reference):.3f}; "
              f"{sum(map(len, reference))} faces in {len(frames)} frames")
        for k in ks:
            for way, make in (("motion", FaceLocator), ("reuse", ReuseBoxes)):
                if way == "reuse" and k == 1:
                    continue
                kept, mean_iou, share, ms, n = score(frames, reference,
                                                     make(make_detector().detect, every=k))
                acc = totals.setdefault((way, k), [0.0, 0, []])
                acc[0] += kept * n
                acc[1] += n
                acc[2].append(mean_iou)
                print(f"{'':<22}{way:<8}{k:>3}{kept:>9.2%}{mean_iou:>10.3f}{share:>10.0%}"
                      f"{ms:>10.2f}")
    print("\nall clips (faces kept, weighted by faces):")
    for (way, k), (kept, n, ious) in sorted(totals.items()):
        print(f"  {way:<7} k={k}: kept {kept / max(1, n):.2%}, mean IoU {np.mean(ious):.3f}")


if __name__ == "__main__":
    main()
