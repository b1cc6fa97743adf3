"""Write the demo source (a slow pan over a real photo) as an MP4, to try analyze.py.

    python bench/make_demo_clip.py outputs/demo.mp4 [--seconds 10]
"""

import argparse
from pathlib import Path

from common import ROOT  # noqa: F401  (puts the repo on sys.path)

import cv2

from ferapp.vision.sources import DemoCapture


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out")
    p.add_argument("--seconds", type=float, default=10)
    args = p.parse_args()
    cap = DemoCapture()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(args.out, cv2.VideoWriter_fourcc(*"mp4v"), cap.fps, cap.size)
    for _ in range(int(args.seconds * cap.fps)):
        writer.write(cap.read()[1])
    writer.release()
    print(f"wrote {args.out}: {args.seconds:.0f} s at {cap.fps:.0f} fps, 640x480")


if __name__ == "__main__":
    main()
