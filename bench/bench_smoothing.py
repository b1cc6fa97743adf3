"""Label stability against lag, per smoothing window: how often the label of a face
changes per minute, and how late the label follows a real change of expression.

Clips (analysed once by the live pipeline, real detector and model, then re-tracked with
each window):
- still photos: the dev set's single-face and group photos, each held still for a few
  seconds with a webcam's sensor noise and 1-2 px jitter (the expression never changes,
  so every label change is flicker);
- demo: the built-in demo source (a slow pan and zoom over a real photo);
- the dev set's talking-head videos (a talking face: mostly flicker) and its
  expressions video (real changes).
Lag: one face whose scores switch between two real score mixes; time until the label
follows. Rates are label changes per minute of tracked face (tracks of 1 s or more).

    python bench/bench_smoothing.py [--devset DIR] [--seconds 6] [--windows 0 0.25 0.5 1 2]
"""
import argparse
import os
from dataclasses import replace
from itertools import pairwise
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

from common import ROOT  # noqa: E402, F401  (sys.path)

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from ferapp.vision.detect import make_detector  # noqa: E402
from ferapp.vision.models import default_model  # noqa: E402
from ferapp.vision.pipeline import ExpressionPipeline  # noqa: E402
from ferapp.vision.sources import DemoCapture  # noqa: E402
from ferapp.vision.tracking import DEFAULT_SMOOTH_S, FaceTracker  # noqa: E402

FPS = 15.0


def still_frames(photo, n, seed=0):
    """A still photo as a webcam sees it: 640 px wide, sensor noise, a small jitter."""
    rng = np.random.default_rng(seed)
    scale = 640 / photo.shape[1]
    frame = cv2.resize(photo, (640, round(photo.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    h, w = frame.shape[:2]
    for _ in range(n):
        m = np.float32([[1, 0, rng.uniform(-2, 2)], [0, 1, rng.uniform(-2, 2)]])
        moved = cv2.warpAffine(frame, m, (w, h), borderMode=cv2.BORDER_REPLICATE)
        noise = rng.normal(0, 4, moved.shape)
        yield np.clip(moved + noise, 0, 255).astype(np.uint8)


def video_frames(path):
    cap = cv2.VideoCapture(str(path))
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        if frame.shape[1] > 640:
            frame = cv2.resize(frame, (640, round(frame.shape[0] * 640 / frame.shape[1])),
                               interpolation=cv2.INTER_AREA)
        yield frame
    cap.release()


def demo_frames(n):
    """The demo source's frames."""
    cap = DemoCapture()
    for _ in range(n):
        yield cap.read()[1]


def raw_results(pipeline, frames):
    """Per frame: the unsmoothed results of every face."""
    return [pipeline.analyze(frame) for frame in frames]


def label_changes(segments, window, fps):
    """Label changes per minute of tracked face, over clips (each a list of per-frame
    results) re-tracked with a ``window``-second smoothing."""
    changes, frames = 0, 0
    for per_frame in segments:
        tracker = FaceTracker(max_gap=15, smooth_s=window)
        labels: dict[int, list] = {}
        for i, results in enumerate(per_frame):
            for r in tracker.update(i, results, t=i / fps):
                labels.setdefault(r.face_id, []).append(r.emotion)
        for seq in labels.values():
            if len(seq) >= fps:  # tracks of 1 s or more
                changes += sum(a != b for a, b in pairwise(seq))
                frames += len(seq)
    return changes * 60 * fps / max(1, frames), frames / fps


def step_lag(before, after, window):
    fps = FPS
    """Seconds until the smoothed label shows the new expression after a switch (the face
    stays at one box, so one track)."""
    seq = [r[0] for r in before if r] + [r[0] for r in after if r]
    switch = sum(1 for r in before if r)
    target = seq[switch].emotion
    tracker = FaceTracker(max_gap=15, smooth_s=window)
    for i, r in enumerate(seq):
        out = tracker.update(i, [replace(r, box=seq[0].box)], t=i / fps)
        if i >= switch and out[0].emotion == target:
            return (i - switch) / fps
    return float("nan")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--devset", default=str(ROOT.parent / "shared" / "data" / "devset"))
    p.add_argument("--seconds", type=float, default=6.0, help="seconds per still photo")
    p.add_argument("--windows", type=float, nargs="+", default=[0, 0.25, 0.5, 1.0, 2.0])
    args = p.parse_args()
    devset = Path(os.environ.get("FER_DEVSET", args.devset))
    if not (devset / "photos").is_dir():
        raise SystemExit(f"bench_smoothing.py: error: no dev set at {devset} (--devset)")
    n = round(args.seconds * FPS)
    pipeline = ExpressionPipeline(default_model(), make_detector())
    photos = sorted(p for p in (devset / "photos").iterdir()
                    if p.name.startswith(("single_frontal", "single_glasses", "group_")))
    clips = {  # name -> (fps, [per-frame results of each segment])
        f"{len(photos)} still photos": (FPS, [raw_results(pipeline, still_frames(
            cv2.imread(str(ph)), n, seed=k)) for k, ph in enumerate(photos)]),
        "demo (pan + zoom)": (DemoCapture.fps, [raw_results(pipeline, demo_frames(
            round(4 * args.seconds * DemoCapture.fps)))]),
    }
    for name in ("talking_glasses_01", "talking_01", "expressions_01"):
        path = devset / "videos" / f"{name}.mp4"
        if path.is_file():
            fps = cv2.VideoCapture(str(path)).get(cv2.CAP_PROP_FPS) or 30.0
            clips[name + (" (real changes)" if name.startswith("expr") else "")] = (
                fps, [raw_results(pipeline, video_frames(path))])
    # a real change of expression: a still face's scores, then the same scores with the
    # top two emotions swapped (a clean switch between two real score mixes)
    base = [r[:1] for r in clips["demo (pan + zoom)"][1][0]]
    swapped = []
    for results in base:
        s = dict(results[0].scores) if results else {}
        if s:
            top = sorted(s, key=s.get, reverse=True)
            s[top[0]], s[top[1]] = s[top[1]], s[top[0]]
        swapped.append([replace(results[0], scores=s)] if results else [])
    half = len(base) // 2
    print("Label changes per minute of tracked face, per smoothing window (a still face's "
          "changes are all flicker), and the lag after a real change of expression")
    print("")
    print("| window (s) | " + " | ".join(clips) + " | lag after a change (s) |")
    print("|" + "---|" * (len(clips) + 2))
    for w in args.windows:
        rates = [label_changes(segs, w, fps)[0] for fps, segs in clips.values()]
        lag = step_lag(base[:half], swapped[half:], w)
        mark = " (default)" if w == DEFAULT_SMOOTH_S else ""
        print(f"| {w:g}{mark} | " + " | ".join(f"{r:.1f}" for r in rates) + f" | {lag:.2f} |")
    print("")
    print("tracked face time: " + ", ".join(
        f"{k} {label_changes(segs, 0, fps)[1]:.0f} s" for k, (fps, segs) in clips.items()))


if __name__ == "__main__":
    main()
