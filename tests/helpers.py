"""Test helpers: the repository root, fakes for unit tests, and a real server to talk to."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


class FakeModel:
    """Stands in for FacialExpressionModel in unit tests: fixed scores, counts calls."""

    input_size = 48
    runtime = "fake"

    def __init__(self):
        self.calls = 0

    def predict_scores(self, faces):
        self.calls += 1
        scores = np.full((len(faces), 7), 0.1, np.float32)
        scores[:, 3] = 0.4  # happy
        return scores


class FakeCapture:
    """A cv2.VideoCapture stand-in: numbered frames; ``fail_after`` frames, then read() fails."""

    def __init__(self, fail_after=None, fps=100.0, log=None):
        self.n, self.fail_after, self.fps = 0, fail_after, fps
        self.released = False
        self.log = log if log is not None else []

    def read(self):
        import time

        if self.fail_after is not None and self.n >= self.fail_after:
            return False, None
        time.sleep(1 / self.fps)  # a camera delivers at its own pace
        self.n += 1
        frame = np.full((120, 160, 3), self.n % 255, np.uint8)
        return True, frame

    def get(self, prop):
        import cv2

        return self.fps if prop == cv2.CAP_PROP_FPS else 0

    def release(self):
        self.released = True
        self.log.append("released")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_server(*args, env=None, ready_timeout=90, scheme="http", ssl_context=None):
    """Start ``main.py --source demo`` with ``args`` on a free port; yield (url, process)."""
    import subprocess
    import time
    import urllib.request

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "main.py", "--source", "demo", "--port", str(port), *args],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})})
    url = f"{scheme}://{'localhost' if scheme == 'https' else '127.0.0.1'}:{port}"
    deadline = time.monotonic() + ready_timeout
    try:
        while True:
            try:
                urllib.request.urlopen(url + "/healthz", timeout=2, context=ssl_context)
                break
            except OSError:
                if proc.poll() is not None:
                    raise AssertionError(proc.stdout.read().decode()) from None
                if time.monotonic() > deadline:
                    raise AssertionError("server did not start") from None
                time.sleep(0.3)
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@contextlib.contextmanager
def demo_app(model, config=None):
    """A test app around ``model`` with an idle demo camera (stopped afterwards)."""
    from ferapp.vision.broadcast import VideoCamera
    from ferapp.vision.sources import parse_source
    from main import create_app

    cam = VideoCamera(parse_source("demo"), lambda f: (f, []))
    try:
        yield create_app({"TESTING": True, **(config or {})}, model=model, camera=cam)
    finally:
        cam.stop()
