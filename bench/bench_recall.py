"""Face recall of our detector settings vs the tutorial's (full-resolution Haar, scale 1.3)
on real faces: PrivateTest faces placed in 640x480 frames at random sizes, and frames of
the real demo photo at several zooms.

    python bench/bench_recall.py [--frames N] [--grid]
"""

import argparse
import itertools
import time

from common import frame_with_faces

import cv2
import numpy as np

from ferapp.learning import data as fer_data
from ferapp.vision.detect import HaarDetector
from ferapp.vision.sources import DemoCapture


def fer_frames(n_frames: int, seed: int = 0):
    """Frames with 6 PrivateTest faces each (sizes 60-160 px); yields (gray, boxes)."""
    x, _ = fer_data.load_split(fer_data.default_data_dir(), "private")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x))
    k = 0
    for _ in range(n_frames):
        frame = np.full((480, 640), int(rng.integers(40, 200)), np.uint8)
        boxes = []
        for cell in range(6):
            cx, cy = (cell % 3) * 213, (cell // 3) * 240
            size = int(rng.integers(60, 161))
            face = cv2.resize(x[order[k % len(x)]], (size, size), interpolation=cv2.INTER_CUBIC)
            k += 1
            px = cx + int(rng.integers(0, 213 - size + 1)) if size < 213 else cx
            py = cy + int(rng.integers(0, 240 - size + 1))
            frame[py:py + size, px:px + size] = face
            boxes.append((px, py, size, size))
        yield frame, boxes


def photo_frames():
    """The real demo photo: its pan/zoom frames and the 1- and 4-face test frames."""
    demo = DemoCapture()
    for i in range(0, 240, 8):
        demo.t = i
        frame = cv2.cvtColor(demo.read()[1], cv2.COLOR_BGR2GRAY)
        yield frame, None
    for n in (1, 4):
        yield cv2.cvtColor(frame_with_faces(n), cv2.COLOR_BGR2GRAY), None


def matched(det, truth):
    """A detection matches a true box when its centre lies inside it and sizes agree."""
    dx, dy = det[0] + det[2] / 2, truth[0] + truth[2] / 2
    cx, cy = det[1] + det[3] / 2, truth[1] + truth[3] / 2
    inside = abs(dx - dy) < truth[2] / 2 and abs(cx - cy) < truth[3] / 2
    return inside and 0.4 < det[2] / truth[2] < 2.0


def score(detect, frames):
    """(faces found, faces present, false detections, ms per frame)."""
    found = total = false = 0
    elapsed = 0.0
    for gray, truth in frames:
        t = time.perf_counter()
        dets = detect(gray)
        elapsed += time.perf_counter() - t
        total += len(truth)
        hits = [any(matched(d, tb) for d in dets) for tb in truth]
        found += sum(hits)
        false += sum(not any(matched(d, tb) for tb in truth) for d in dets)
    return found, total, false, 1000 * elapsed / len(frames)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=60, help="PrivateTest frames (6 faces each)")
    p.add_argument("--grid", action="store_true", help="also try a grid of other settings")
    args = p.parse_args()
    fer = list(fer_frames(args.frames))
    baseline = cv2.CascadeClassifier(cv2.data.haarcascades +
                                     "haarcascade_frontalface_default.xml")

    def base_detect(gray):
        return [tuple(map(int, b)) for b in baseline.detectMultiScale(gray, 1.3, 5)]

    # the real photos: the baseline's detections on the full-resolution frame are the truth
    # to match, plus the known single face of each frame
    photos = [(g, base_detect(g)) for g, _ in photo_frames()]
    candidates = {"tutorial (640 px, 1.3, 5)": base_detect, "ours (default)": HaarDetector().detect}
    if args.grid:
        for width, sf, mn, mf in itertools.product((240, 320), (1.1, 1.15, 1.2), (4, 5),
                                                   (32, 48)):
            d = HaarDetector(width, sf, mn, mf)
            candidates[f"{width} px, {sf}, {mn}, min {mf}"] = d.detect
    print(f"{'detector':<28} {'PrivateTest faces':>18} {'recall':>7} {'false':>6} "
          f"{'photo faces':>12} {'ms/frame':>9}")
    for name, detect in candidates.items():
        f, t, false, ms = score(detect, fer)
        pf, pt, _, pms = score(detect, photos)
        print(f"{name:<28} {f:>8}/{t:<9} {f / t:>7.3f} {false:>6} {pf:>6}/{pt:<5} "
              f"{(ms + pms) / 2:>9.2f}")


if __name__ == "__main__":
    main()
