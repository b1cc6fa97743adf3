"""The whole frame pipeline at 640x480 (decode, detect, classify, draw, JPEG) by stage,
with 0, 1 and 4 faces, per face detector, vs a tutorial-style baseline (full-resolution
Haar at scale 1.3, model.predict per face); then detection every k-th frame (k = 1, 2, 3)
on the dev videos: frames/s and the faces kept against detecting every frame.

    python bench/bench_pipeline.py [--repeat N] [--devset DIR]
"""

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

from common import ROOT, TutorialPipeline, clip_frames, frame_with_faces, timeit  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from ferapp.vision.boxes import iou  # noqa: E402
from ferapp.vision.classifier import FacialExpressionModel  # noqa: E402
from ferapp.vision.crop import crop_faces  # noqa: E402
from ferapp.vision.detect import make_detector  # noqa: E402
from ferapp.vision.draw import draw_results, encode_jpeg  # noqa: E402
from ferapp.vision.pipeline import ExpressionPipeline  # noqa: E402
from ferapp.vision.stream import StreamAnnotator  # noqa: E402


def stages(model, name, n, repeat):
    ours = ExpressionPipeline(model, make_detector(name))
    jpeg = encode_jpeg(frame_with_faces(n), 90)
    frame = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    faces = ours.detector.detect(frame)
    results = ours.analyze(frame)
    t = {
        "decode": timeit(lambda: cv2.imdecode(np.frombuffer(jpeg, np.uint8),
                                              cv2.IMREAD_COLOR), repeat),
        "detect": timeit(lambda: ours.detector.detect(frame), repeat),
        "classify": timeit(lambda: model.predict_scores(crop_faces(gray, faces, 48)), repeat),
        "draw": timeit(lambda: draw_results(frame.copy(), results), repeat),
        "encode": timeit(lambda: encode_jpeg(frame), repeat),
    }

    def whole():
        f = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        annotated, _ = ours.annotate(f)
        encode_jpeg(annotated)

    return len(faces), t, timeit(whole, repeat), jpeg


def every_k(model, devset: Path, ks=(1, 2, 3), max_frames=150):
    """Per k: ms per frame (detect every k-th, classify all) and share of the faces found
    by per-frame detection that the reused boxes still cover (IoU >= 0.4)."""
    frames = [clip_frames(clip, max_frames) for clip in sorted((devset / "videos").glob("*.mp4"))]
    detector = make_detector()
    reference = [[detector.detect(f) for f in clip] for clip in frames]
    rows = []
    for k in ks:
        kept = total = 0
        spent, count = 0.0, 0
        for clip, ref in zip(frames, reference, strict=True):
            live = StreamAnnotator(ExpressionPipeline(model, make_detector()), detect_every=k)
            for f, truth in zip(clip, ref, strict=True):
                t = time.perf_counter()
                _, results = live(f.copy())
                spent += time.perf_counter() - t
                count += 1
                total += len(truth)
                kept += sum(any(iou(r.box, d.box) >= 0.4 for r in results) for d in truth)
        rows.append((k, 1000 * spent / count, kept / max(1, total), count))
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=40)
    p.add_argument("--devset", default=os.environ.get(
        "FER_DEVSET", str(ROOT.parent / "shared" / "data" / "devset")))
    args = p.parse_args()
    model = FacialExpressionModel(ROOT / "model.json", ROOT / "model_weights.h5")
    base = TutorialPipeline(model.keras_model, model.input_size)
    print(f"runtime {model.runtime}; median of {args.repeat} frames; ms per frame")
    print(f"{'detector':<10} {'faces':>5} {'found':>5} {'decode':>7} {'detect':>7} "
          f"{'classify':>8} {'draw':>6} {'encode':>7} {'total':>7} {'fps':>6} | "
          f"{'vs haar':>7} {'tutorial':>9} {'speed-up':>8}")
    haar_total = {}
    for name in ("haar", "centerface", "yunet"):
        for n in (0, 1, 4):
            found, t, total, jpeg = stages(model, name, n, args.repeat)
            haar_total.setdefault(n, total)
            baseline = timeit(lambda j=jpeg: base.process(j), max(5, args.repeat // 4), warmup=2)
            print(f"{name:<10} {n:>5} {found:>5} {t['decode']:>7.2f} {t['detect']:>7.2f} "
                  f"{t['classify']:>8.2f} {t['draw']:>6.2f} {t['encode']:>7.2f} "
                  f"{total:>7.2f} {1000 / total:>6.1f} | {haar_total[n] / total:>6.2f}x "
                  f"{baseline:>9.1f} {baseline / total:>7.1f}x", flush=True)
    devset = Path(args.devset)
    if (devset / "videos").is_dir():
        print("\ndetect every k-th frame (default detector, dev videos at 640 px, stream step "
              "with tracking): ms/frame, fps, faces kept vs detecting every frame")
        for k, ms, kept, count in every_k(model, devset):
            print(f"  k={k}: {ms:6.2f} ms  {1000 / ms:6.1f} fps  faces kept {kept:6.1%}  "
                  f"({count} frames)")


if __name__ == "__main__":
    main()
