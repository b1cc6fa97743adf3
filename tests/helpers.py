"""Test helpers: the repository root, fakes for unit tests, a real server to talk to, and
small builders of test inputs (images, votes, clips, CLI runs)."""

from __future__ import annotations

import contextlib
import io
import os
import struct
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import zlib
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from ferapp.labels import EMOTIONS
from ferapp.learning import ferplus
from ferapp.vision.broadcast import VideoCamera
from ferapp.vision.pipeline import FaceResult
from ferapp.vision.sources import parse_source
from main import create_app

ROOT = Path(__file__).resolve().parent.parent
# train.py in smoke mode: a few Training and PublicTest faces, small batches
SMOKE = ["--smoke", "128", "--batch-size", "32"]
# the clip fixture: frames in all, and the blank ones (no face)
FRAMES, BLANK = 12, {5}


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

        if self.fail_after is not None and self.n >= self.fail_after:
            return False, None
        time.sleep(1 / self.fps)  # a camera delivers at its own pace
        self.n += 1
        frame = np.full((120, 160, 3), self.n % 255, np.uint8)
        return True, frame

    def get(self, prop):

        return self.fps if prop == cv2.CAP_PROP_FPS else 0

    def release(self):
        self.released = True
        self.log.append("released")


def missing(what: str):
    """A prerequisite of a test is missing: under CI (``CI=true``) the test fails naming
    it, since CI installs everything; on a newcomer's machine it is skipped with the
    reason (``-ra`` prints it in the summary)."""
    import pytest

    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI lacks a prerequisite: {what}", pytrace=False)
    pytest.skip(f"missing prerequisite: {what}")


def bound_port(proc, pattern: bytes, timeout: float) -> int:
    """The port a server started with port 0 says it bound: the first group of ``pattern``
    in its output (read until that line; kept in ``proc.startup_output``)."""
    import queue
    import re
    import threading

    lines: queue.Queue = queue.Queue()

    def pump():  # stops at the line, so the test may read the rest itself
        for line in proc.stdout:
            lines.put(line)
            if re.search(pattern, line):
                return
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    seen, deadline = [], time.monotonic() + timeout
    while True:
        try:
            line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            raise AssertionError("the server did not say its port: "
                                 + b"".join(seen).decode(errors="replace")) from None
        if line is None:
            raise AssertionError(b"".join(seen).decode(errors="replace"))
        seen.append(line)
        found = re.search(pattern, line)
        if found:
            proc.startup_output = b"".join(seen)
            return int(found.group(1))


@contextlib.contextmanager
def running_server(*args, env=None, ready_timeout=90, scheme="http", ssl_context=None):
    """Start ``main.py --source demo`` with ``args`` on a port the system picks (the server
    binds port 0 and prints the one it got: no race with another test for a port);
    yield (url, process)."""
    import subprocess

    proc = subprocess.Popen(
        [sys.executable, "main.py", "--source", "demo", "--port", "0", *args],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})})
    deadline = time.monotonic() + ready_timeout
    try:
        port = bound_port(proc, rb"Serving .* at https?://[^ ]*:(\d+)/", ready_timeout)
        url = f"{scheme}://{'localhost' if scheme == 'https' else '127.0.0.1'}:{port}"
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

    cam = VideoCamera(parse_source("demo"), lambda f: (f, []))
    try:
        yield create_app({"TESTING": True, **(config or {})}, model=model, camera=cam)
    finally:
        cam.stop()


DEVSET = Path(os.environ.get("FER_DEVSET", ROOT.parent / "shared" / "data" / "devset"))


def face_result(x):
    """A happy face at (x, 10), 50 px wide."""
    return FaceResult((x, 10, 50, 50), {e: 0.9 if e == "happy" else 0.0 for e in EMOTIONS})


def encode(img: Image.Image, fmt: str, **kw) -> bytes:
    """The image encoded as ``fmt`` (Pillow)."""
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def png_bomb(width, height):
    """A valid PNG of width x height black pixels: tiny on disk, huge once decoded."""
    raw = zlib.compress(b"\x00" * (1 + width) * 64)  # only a few rows: enough to start
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def post(client, data, name="photo.jpg", headers=None, query=""):
    """POST ``data`` as the photo of /api/predict."""
    return client.post(f"/api/predict{query}", data={"image": (io.BytesIO(data), name)},
                       content_type="multipart/form-data", headers=headers or {})


def row(**votes):
    """Ten vote counts from FER+ column names (missing columns: 0)."""
    return np.array([votes.get(c, 0) for c in ferplus.VOTE_COLUMNS])


def run_script(script, *args):
    """Run a CLI of the repository as a user does; return the finished process."""
    return subprocess.run([sys.executable, script, *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})


def tls_certificate(folder: Path):
    """A throwaway CA's certificate for localhost and 127.0.0.1, written to folder:
    (server.pem path, key.pem path, an SSL context that trusts it)."""
    import ssl

    import trustme

    ca = trustme.CA()
    issued = ca.issue_cert("localhost", "127.0.0.1")
    issued.private_key_and_cert_chain_pem.write_to_path(str(folder / "server.pem"))
    issued.private_key_pem.write_to_path(str(folder / "key.pem"))
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return str(folder / "server.pem"), str(folder / "key.pem"), context


def four_faces(photo: np.ndarray, k: int = 0) -> np.ndarray:
    """Frame k of a 640x480 clip of four faces of ``photo`` moving a little: large, small,
    tilted 15 degrees, near the edge."""
    frame = np.full((480, 640, 3), 60, np.uint8)
    for (x, y, side, angle) in ((40 + 2 * k, 60, 230, 0), (330, 40 + k, 110, 0),
                                (420 - k, 220, 170, 15), (560, 330, 120, 0)):
        face = cv2.resize(photo, (side, round(side * 1.2)), interpolation=cv2.INTER_AREA)
        if angle:
            m = cv2.getRotationMatrix2D((side / 2, side * 0.6), angle, 1.0)
            face = cv2.warpAffine(face, m, (side, round(side * 1.2)),
                                  borderMode=cv2.BORDER_REPLICATE)
        hh, ww = min(face.shape[0], 480 - y), min(face.shape[1], 640 - x)
        frame[y:y + hh, x:x + ww] = face[:hh, :ww]
    return frame
