"""The whole frame pipeline at 640x480 (decode, detect, classify, draw, JPEG) by stage,
with 0, 1 and 4 faces, vs a tutorial-style baseline (full-resolution Haar at scale 1.3,
model.predict per face).

    python bench/bench_pipeline.py [--repeat N]
"""

import argparse

import cv2
import numpy as np

from common import ROOT, TutorialPipeline, frame_with_faces, timeit

from model import FacialExpressionModel
from pipeline import ExpressionPipeline, crop_faces, draw_results, encode_jpeg


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=40)
    args = p.parse_args()
    model = FacialExpressionModel(ROOT / "model.json", ROOT / "model_weights.h5")
    ours = ExpressionPipeline(model)
    base = TutorialPipeline(model.keras_model, model.input_size)
    print(f"runtime {model.runtime}; median of {args.repeat} frames; ms per frame")
    header = (f"{'faces':>5} {'found':>5} {'decode':>7} {'detect':>7} {'classify':>8} "
              f"{'draw':>6} {'encode':>7} {'total':>7} {'fps':>6} | {'baseline':>9} "
              f"{'base fps':>8} {'speed-up':>8}")
    print(header)
    for n in (0, 1, 4):
        jpeg = encode_jpeg(frame_with_faces(n), 90)
        frame = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        boxes = ours.detector.detect(gray)
        results = ours.analyze(frame)
        stages = {
            "decode": lambda: cv2.cvtColor(
                cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR),
                cv2.COLOR_BGR2GRAY),
            "detect": lambda: ours.detector.detect(gray),
            "classify": lambda: model.predict_scores(crop_faces(gray, boxes, 48)),
            "draw": lambda: draw_results(frame.copy(), results),
            "encode": lambda: encode_jpeg(frame),
        }
        t = {k: timeit(f, args.repeat) for k, f in stages.items()}

        def whole():
            f = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
            annotated, _ = ours.annotate(f)
            encode_jpeg(annotated)

        total = timeit(whole, args.repeat)
        baseline = timeit(lambda: base.process(jpeg), max(5, args.repeat // 4), warmup=2)
        print(f"{n:>5} {len(boxes):>5} {t['decode']:>7.2f} {t['detect']:>7.2f} "
              f"{t['classify']:>8.2f} {t['draw']:>6.2f} {t['encode']:>7.2f} {total:>7.2f} "
              f"{1000 / total:>6.1f} | {baseline:>9.1f} {1000 / baseline:>8.1f} "
              f"{baseline / total:>7.1f}x")


if __name__ == "__main__":
    main()
