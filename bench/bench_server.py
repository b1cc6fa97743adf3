"""The server on loopback: frames/s per viewer with 1, 4 and 16 concurrent /video_feed
viewers, server CPU time per delivered frame, analyses per source frame, start-up time to
the first frame and memory, each next to its baseline (1 viewer; the Keras runtime).

    python bench/bench_server.py [--seconds S] [--fps F] [--clip photo|devset]

The source is a 640x480 video with 4 real faces that the script writes itself (at 30
frames/s; ``--fps 120`` for a source faster than the stream can analyse): the demo photo
four times (``photo``, the default) or four moving people of the dev videos (``devset``).
``--fps`` above 30 also runs today's server (one thread, the detector on every frame,
every face flipped: ``FER_STAGED=false FER_DETECT_EVERY=1 FER_FLIP_BELOW=1``) on the same
source as the baseline, and prints the ratio.
"""

import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from common import ROOT, devset_dir, four_face_clip, frame_with_faces

import cv2
import psutil

from ferapp.system import cpu_name

TODAY = {"FER_STAGED": "false", "FER_DETECT_EVERY": "1", "FER_FLIP_BELOW": "1"}


def write_video(path: Path, seconds: int = 4, fps: float = 30.0, clip: str = "photo"):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (640, 480))
    if clip == "devset":
        for frame in four_face_clip(devset_dir(), 300):
            writer.write(frame)
    else:
        base = frame_with_faces(4)
        for i in range(int(seconds * fps)):
            writer.write(cv2.convertScaleAbs(base, alpha=1.0, beta=(i % 30) - 15))
    writer.release()


def free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(source: Path, port: int, runtime: str = "auto", env: dict | None = None):
    env = {**os.environ, "FER_RUNTIME": runtime, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    return subprocess.Popen([sys.executable, "main.py", "--source", str(source), "--port",
                             str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_ready(port, proc, seconds=30.0):
    """Poll /api/status until the server answers."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            return status(port)
        except OSError:
            if proc.poll() is not None:
                raise SystemExit("the server exited at start-up") from None
            time.sleep(0.1)
    raise SystemExit("the server did not answer")


class Viewer(threading.Thread):
    """Read /video_feed and count JPEG parts until stopped."""

    def __init__(self, port, stop):
        super().__init__(daemon=True)
        self.port, self.stop, self.frames, self.first = port, stop, 0, None
        self.status = None  # the stream's HTTP status (503: too many viewers)

    def run(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            self._read(conn)
        except (OSError, http.client.HTTPException):
            pass  # the server is not up yet, or has gone
        finally:
            conn.close()

    def _read(self, conn):
        conn.request("GET", "/video_feed")
        resp = conn.getresponse()
        self.status = resp.status
        if resp.status != 200:
            return
        buf = b""
        while not self.stop.is_set():
            chunk = resp.read1(65536)
            if not chunk:
                break
            buf += chunk
            while True:
                i = buf.find(b"\xff\xd9")  # end of a JPEG
                if i < 0:
                    break
                self.frames += 1
                if self.first is None:
                    self.first = time.perf_counter()
                buf = buf[i + 2:]


def status(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/api/status")
    return json.loads(conn.getresponse().read())


def first_frame_time(source, runtime):
    port = free_port()
    t0 = time.perf_counter()
    proc = start_server(source, port, runtime)
    try:
        while True:
            stop = threading.Event()
            v = Viewer(port, stop)
            v.start()
            while v.first is None and v.is_alive():
                time.sleep(0.01)
            stop.set()
            if v.first is not None:
                rss = psutil.Process(proc.pid).memory_info().rss / 2**20
                return v.first - t0, rss
            if proc.poll() is not None:
                raise SystemExit("the server did not start")
            time.sleep(0.05)
    finally:
        proc.terminate()
        proc.wait(10)


def measure(port, proc, viewers, seconds):
    stop = threading.Event()
    ps = psutil.Process(proc.pid)
    threads = [Viewer(port, stop) for _ in range(viewers)]
    for t in threads:
        t.start()
    time.sleep(1.0)  # let every viewer connect
    counts0 = [t.frames for t in threads]
    cpu0, a0, t0 = ps.cpu_times(), status(port)["frames_analyzed"], time.perf_counter()
    time.sleep(seconds)
    counts = [t.frames - c for t, c in zip(threads, counts0, strict=True)]
    cpu1, a1, t1 = ps.cpu_times(), status(port)["frames_analyzed"], time.perf_counter()
    stop.set()
    for t in threads:
        t.join(5)
    elapsed = t1 - t0
    cpu = (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)
    fps = [c / elapsed for c in counts]
    return {"viewers": viewers, "fps_mean": sum(fps) / len(fps), "fps_min": min(fps),
            "analyzed_fps": (a1 - a0) / elapsed,
            "cpu_ms_per_frame": 1000 * cpu / max(1, sum(counts)),
            "rss_mb": ps.memory_info().rss / 2**20}


def viewer_rows(source, seconds, env=None, counts=(1, 4, 16)):
    port = free_port()
    proc = start_server(source, port, env=env)
    try:
        wait_ready(port, proc)
        return [measure(port, proc, n, seconds) for n in counts]
    finally:
        proc.terminate()
        proc.wait(10)


def print_rows(rows, title):
    print(title)
    print(f"{'viewers':>7} {'fps/viewer':>10} {'min fps':>8} {'vs 1 viewer':>11} "
          f"{'analyses/s':>10} {'CPU ms/delivered frame':>22} {'RSS MB':>7}")
    one = rows[0]["fps_mean"]
    for r in rows:
        print(f"{r['viewers']:>7} {r['fps_mean']:>10.1f} {r['fps_min']:>8.1f} "
              f"{r['fps_min'] / one:>10.0%} {r['analyzed_fps']:>10.1f} "
              f"{r['cpu_ms_per_frame']:>22.2f} {r['rss_mb']:>7.0f}")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=8.0)
    p.add_argument("--fps", type=float, default=30.0, help="the source video's frame rate")
    p.add_argument("--clip", choices=("photo", "devset"), default="photo")
    p.add_argument("--no-startup", action="store_true", help="skip the start-up rows")
    args = p.parse_args()
    print(f"{cpu_name()}, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / f"four_faces_{args.fps:g}fps.mp4"
        write_video(source, fps=args.fps, clip=args.clip)
        what = f"source: 640x480 video at {args.fps:g} fps with 4 faces ({args.clip})"
        rows = viewer_rows(source, args.seconds)
        print_rows(rows, f"{what}; {args.seconds:.0f} s per row; as served")
        if args.fps > 30:
            base = viewer_rows(source, args.seconds, env=TODAY, counts=(1,))
            print_rows(base, "today's server (one thread, detect every frame, flip all), "
                             "same source")
            print(f"one viewer receives {rows[0]['fps_mean']:.1f} vs {base[0]['fps_mean']:.1f} "
                  f"frames/s = {rows[0]['fps_mean'] / base[0]['fps_mean']:.2f}x today's; CPU "
                  f"per delivered frame {rows[0]['cpu_ms_per_frame']:.1f} vs "
                  f"{base[0]['cpu_ms_per_frame']:.1f} ms")
        if args.no_startup:
            return
        ours, ours_rss = first_frame_time(source, "auto")
        base, base_rss = first_frame_time(source, "keras")
        print(f"start-up to first frame: {ours:.2f} s (ONNX Runtime, RSS {ours_rss:.0f} MB) vs "
              f"{base:.2f} s (Keras runtime, RSS {base_rss:.0f} MB): {base / ours:.1f}x faster, "
              f"{base_rss / ours_rss:.1f}x less memory")


if __name__ == "__main__":
    main()
