"""The stream step and analyze.py on a real 4-face 640x480 clip: today's path (one thread,
the detector on every frame, every face flipped) against each change and all of them
together (flip only where unsure, faces carried by motion, two stages on two threads).

    python bench/bench_stream.py [--devset DIR] [--frames N] [--seconds S]

Per configuration: frames/s of the stream step (read + decode, locate, classify, track,
draw, JPEG) and its ratio to today's, process CPU ms per frame, and the faces kept (of
today's faces on each frame, the share the configuration also gives, IoU >= 0.4). Then
analyze.py's work on an MP4 of the same clip (``analyze_video``, with and without the
annotated copy): seconds and the speed-up over today's.
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

from common import ROOT, devset_dir, four_face_clip  # noqa: E402

import cv2  # noqa: E402

from ferapp.offline.recording import analyze_video  # noqa: E402
from ferapp.system import cpu_name, int8_dot_products  # noqa: E402
from ferapp.vision.boxes import iou  # noqa: E402
from ferapp.vision.classifier import FLIP_BELOW, load_export  # noqa: E402
from ferapp.vision.detect import make_detector  # noqa: E402
from ferapp.vision.draw import encode_jpeg  # noqa: E402
from ferapp.vision.motion import DEFAULT_DETECT_EVERY  # noqa: E402
from ferapp.vision.pipeline import ExpressionPipeline, LockedPipeline  # noqa: E402
from ferapp.vision.stages import overlapped  # noqa: E402
from ferapp.vision.stream import StreamAnnotator  # noqa: E402

K = DEFAULT_DETECT_EVERY
# (name, flip gate, detect every, two stages)
CONFIGS = [("today: 1 thread, detect every frame, flip all", 1.0, 1, False),
           (f"flip only below {FLIP_BELOW:g}", FLIP_BELOW, 1, False),
           (f"+ motion, detect every {K}", FLIP_BELOW, K, False),
           ("two stages, detect every frame, flip all", 1.0, 1, True),
           (f"all: two stages + motion ({K}) + flip gate", FLIP_BELOW, K, True)]


def read_frames(path):
    cap = cv2.VideoCapture(str(path))
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                return
            yield frame
    finally:
        cap.release()


def stream_step(model, path, gate, every, staged):
    model.flip_below = gate
    live = StreamAnnotator(LockedPipeline(ExpressionPipeline(model, make_detector())),
                           detect_every=every, smooth_s=0)
    frames = read_frames(path)
    steps = (overlapped(frames, live.locate, name="bench-detect") if staged
             else ((f, live.locate(f)) for f in frames))
    boxes = []
    wall, cpu = time.perf_counter(), time.process_time()
    for frame, faces in steps:
        annotated, results = live.finish(frame, faces)
        encode_jpeg(annotated)
        boxes.append([r.box for r in results])
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return len(boxes) / wall, 1000 * cpu / len(boxes), boxes


def kept(boxes, reference):
    total = sum(map(len, reference))
    hit = sum(any(iou(b, r) >= 0.4 for b in got) for got, ref in zip(boxes, reference,
                                                                        strict=True) for r in ref)
    return hit / max(1, total)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--devset", default=str(devset_dir()))
    p.add_argument("--frames", type=int, default=300, help="frames of the 4-face clip")
    args = p.parse_args()
    model = load_export(ROOT)
    print(f"{cpu_name()}, int8 dot products: {'yes' if int8_dot_products() else 'no'}; "
          f"{os.cpu_count()} cores; runtime {model.runtime}")
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "four_faces.mp4"
        frames = four_face_clip(Path(args.devset), args.frames)
        writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (640, 480))
        for f in frames:
            writer.write(f)
        writer.release()
        print(f"\nstream step, 4-face 640x480 clip ({len(frames)} frames, decoded in the "
              "loop): frames/s, CPU ms per frame, faces kept vs today")
        rows, reference = [], None
        for name, gate, every, staged in CONFIGS:
            stream_step(model, clip, gate, every, staged)  # warm-up pass
            fps, cpu_ms, boxes = stream_step(model, clip, gate, every, staged)
            reference = reference or boxes
            rows.append((name, fps, cpu_ms, kept(boxes, reference)))
            print(f"  {name:<48}{fps:7.1f} fps {fps / rows[0][1]:6.2f}x  CPU {cpu_ms:6.2f} ms"
                  f"  kept {rows[-1][3]:7.2%}", flush=True)
        print("\nanalyze_video on the same clip as an MP4 (seconds, speed-up vs today)")
        for video in (False, True):
            times = {}
            for name, gate, every, staged in (CONFIGS[0], CONFIGS[-1]):
                model.flip_below = gate
                pipeline = ExpressionPipeline(model, make_detector())
                t = time.perf_counter()
                analyze_video(clip, Path(tmp) / "out", write_video=video, pipeline=pipeline,
                              progress=False, detect_every=every, staged=staged)
                times[name] = time.perf_counter() - t
            today, new = times.values()
            print(f"  {'with' if video else 'without'} the annotated MP4: today {today:.2f} s, "
                  f"all {new:.2f} s = {today / new:.2f}x faster")


if __name__ == "__main__":
    main()
