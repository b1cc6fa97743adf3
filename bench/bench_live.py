"""The visitor's camera path: round trip of one 640x480 JPEG frame of a real face posted to
/api/frame on a real server (waitress), against the same analysis called in-process in the
same run; the difference is what HTTP costs per frame (what a WebSocket could save at most).

    python bench/bench_live.py [--frames 200]
"""

import argparse
import os
import statistics
import time
import urllib.request

os.environ.setdefault("OMP_NUM_THREADS", "1")

from bench_server import start_server, wait_ready  # noqa: E402
from common import frame_with_faces  # noqa: E402

import cv2  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=200)
    p.add_argument("--port", type=int, default=5071)
    args = p.parse_args()
    frame = frame_with_faces(1)
    body = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes()

    # baseline, in-process: decode + the live step (detect, classify, track, smooth)
    from ferapp.vision.detect import make_detector
    from ferapp.vision.intake import decode_image
    from ferapp.vision.models import default_model
    from ferapp.vision.pipeline import ExpressionPipeline
    from ferapp.vision.stream import StreamAnnotator

    live = StreamAnnotator(ExpressionPipeline(default_model(), make_detector()))
    local = []
    for _ in range(args.frames):
        t = time.perf_counter()
        live.track(decode_image(body, work_side=None).image)
        local.append((time.perf_counter() - t) * 1000)

    proc = start_server("demo", args.port)
    try:
        wait_ready(args.port, proc, seconds=120)
        url = f"http://127.0.0.1:{args.port}/api/frame?session=bench-live-1"
        rtt, server_ms, dropped = [], [], 0
        while len(rtt) < args.frames:
            req = urllib.request.Request(url, data=body, headers={"Content-Type": "image/jpeg"})
            t = time.perf_counter()
            try:
                with urllib.request.urlopen(req, timeout=10) as r:
                    answer = __import__("json").loads(r.read())
            except urllib.error.HTTPError as e:
                if e.code != 429:
                    raise
                dropped += 1
                time.sleep(0.005)
                continue
            rtt.append((time.perf_counter() - t) * 1000)
            server_ms.append(answer["ms"])
    finally:
        proc.terminate()
        proc.wait(10)
    med = statistics.median
    print(f"One 640x480 JPEG frame ({len(body) // 1024} KiB) of a real face, {args.frames} "
          "frames, one in flight (as the page sends them)")
    print("")
    print("| path | median ms per frame | frames/s |")
    print("|---|---|---|")
    print(f"| in-process decode + live step (baseline) | {med(local):.1f} | "
          f"{1000 / med(local):.0f} |")
    print(f"| POST /api/frame, server-side time | {med(server_ms):.1f} | |")
    print(f"| POST /api/frame, round trip | {med(rtt):.1f} | {1000 / med(rtt):.0f} |")
    print("")
    print(f"HTTP itself (round trip - server-side time) costs "
          f"{med([a - b for a, b in zip(rtt, server_ms, strict=True)]):.1f} ms per frame; "
          "round trip / "
          f"baseline = {med(rtt) / med(local):.2f}x; "
          f"{dropped} frames refused with 429 by the per-camera rate limit "
          "(30 frames/s) and re-sent")


if __name__ == "__main__":
    main()
