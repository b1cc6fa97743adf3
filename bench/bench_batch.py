"""Batch analysis throughput: recordings per minute with 1 and 2 workers, on the local
process pool and on a local Ray cluster, against the local engine with 1 worker in the
same run; Ray's overhead against the local engine on the same small batch.

The recordings are copies of the demo source (a real photo, 640x480, 15 frames/s). Each
run starts from nothing (workers load the model; Ray starts its cluster), as a user's
run does, into a fresh output folder, without annotated video.

    python bench/bench_batch.py [--clips 8] [--seconds 4]
"""

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from common import ROOT  # noqa: F401  (sys.path)

import cv2

from ferapp.offline import batch
from ferapp.vision.sources import DemoCapture  # noqa: E402


def make_clips(folder: Path, n: int, seconds: float) -> list[Path]:
    cap = DemoCapture()
    frames = [cap.read()[1] for _ in range(round(seconds * cap.fps))]
    paths = []
    for k in range(n):
        path = folder / f"rec{k:03d}.mp4"
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), cap.fps,
                                 (frames[0].shape[1], frames[0].shape[0]))
        for f in frames[k % 5:] + frames[:k % 5]:  # each recording starts elsewhere
            writer.write(f)
        writer.release()
        paths.append(path)
    return paths


def timed(folder: Path, engine: str, workers: int) -> tuple[float, int]:
    out = Path(tempfile.mkdtemp(prefix=f"bench-{engine}-{workers}-"))
    try:
        t = time.perf_counter()
        report = batch.run([folder], out, engine=engine, workers=workers, progress=False,
                           opts=batch.Options(write_video=False))
        elapsed = time.perf_counter() - t
        if report.failed:
            raise SystemExit(f"bench_batch.py: error: {report.failed[0]['error']}")
        return elapsed, len(report.done)
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clips", type=int, default=8)
    p.add_argument("--seconds", type=float, default=4.0, help="length of each recording")
    p.add_argument("--repeat", type=int, default=2, help="runs per setting (the best counts)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        make_clips(folder, args.clips, args.seconds)
        timed(folder, "local", 1)  # warm the disk cache and imports: not counted
        runs = {}
        for engine, workers in (("local", 1), ("local", 2), ("ray", 1), ("ray", 2)):
            runs[engine, workers] = min(timed(folder, engine, workers)
                                        for _ in range(args.repeat))
    base = runs["local", 1][0]
    print(f"{args.clips} recordings of {args.seconds:g} s (640x480, 15 frames/s, one face), "
          "no annotated video; wall time from start to the last output, start-up included "
          f"(best of {args.repeat})")
    print("")
    print("| engine | workers | seconds | recordings/min | vs local, 1 worker |")
    print("|---|---|---|---|---|")
    for (engine, workers), (secs, done) in runs.items():
        print(f"| {engine} | {workers} | {secs:.1f} | {60 * done / secs:.1f} | "
              f"{base / secs:.2f}x |")
    print("")
    for workers in (1, 2):
        extra = runs["ray", workers][0] - runs["local", workers][0]
        print(f"Ray overhead with {workers} worker(s): {extra:+.1f} s "
              f"({runs['ray', workers][0] / runs['local', workers][0]:.2f}x the local engine)")


if __name__ == "__main__":
    main()
