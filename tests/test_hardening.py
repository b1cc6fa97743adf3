"""Hostile input, faults and security defaults."""

import gc
import io
import os
import socket
import struct
import threading
import time
import zlib

import cv2
import numpy as np
import psutil
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pipeline
from ferapp import intake
from camera import VideoCamera, parse_source
from conftest import FakeModel, demo_app, free_port
from main import create_app

JPEG_SEED = cv2.imencode(".jpg", np.random.default_rng(0).integers(
    0, 255, (64, 80, 3), dtype=np.uint8))[1].tobytes()
PNG_SEED = cv2.imencode(".png", np.random.default_rng(1).integers(
    0, 255, (40, 30, 3), dtype=np.uint8))[1].tobytes()


def png_bomb(width, height):
    """A valid PNG of width x height black pixels: tiny on disk, huge once decoded."""
    raw = zlib.compress(b"\x00" * (1 + width) * 64)  # only a few rows: enough to start
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def app(shipped_model):
    with demo_app(shipped_model) as app:
        yield app


@st.composite
def mutated(draw, seed: bytes):
    """Corrupt a real image: truncate, flip bytes, splice garbage, or fake its size."""
    b = bytearray(seed)
    action = draw(st.sampled_from(["truncate", "flip", "splice", "header"]))
    if action == "truncate":
        return bytes(b[:draw(st.integers(0, len(b)))])
    if action == "flip":
        for _ in range(draw(st.integers(1, 20))):
            i = draw(st.integers(0, len(b) - 1))
            b[i] = draw(st.integers(0, 255))
        return bytes(b)
    if action == "splice":
        i = draw(st.integers(0, len(b)))
        return bytes(b[:i]) + draw(st.binary(max_size=200)) + bytes(b[i:])
    w, h = draw(st.integers(0, 2**31 - 1)), draw(st.integers(0, 2**31 - 1))
    if seed is PNG_SEED:
        b[16:24] = struct.pack(">II", w, h)
    else:
        sof = b.find(b"\xff\xc0")
        if sof > 0:
            b[sof + 5:sof + 9] = struct.pack(">HH", h & 0xFFFF, w & 0xFFFF)
    return bytes(b)


payloads = st.one_of(
    st.binary(max_size=2048),
    mutated(JPEG_SEED),
    mutated(PNG_SEED),
    st.builds(png_bomb, st.integers(1, 200_000), st.integers(1, 200_000)),
)


@settings(max_examples=int(os.environ.get("FER_FUZZ_EXAMPLES", 2000)), deadline=None, suppress_health_check=list(HealthCheck))
@given(payload=payloads,
       field=st.sampled_from(["image", "image", "image", "file", ""]),
       count=st.integers(0, 3),
       content_type=st.sampled_from(["multipart/form-data", "image/jpeg",
                                     "application/octet-stream", "text/plain", ""]),
       filename=st.text(max_size=30))
def test_fuzz_predict_never_5xx(app, payload, field, count, content_type, filename):
    client = app.test_client()
    started = time.monotonic()
    if content_type == "multipart/form-data":
        files = [(io.BytesIO(payload), filename or "x") for _ in range(count)]
        resp = client.post("/api/predict", data={field: files} if field else {},
                           content_type=content_type)
    else:
        resp = client.post("/api/predict", data=payload,
                           headers={"Content-Type": content_type} if content_type else {})
    assert time.monotonic() - started < 10  # no hang: a generous bound, not a benchmark
    assert resp.status_code == 200 or 400 <= resp.status_code < 500, resp.status_code
    assert resp.is_json and ("error" in resp.get_json() or "faces" in resp.get_json())


@pytest.mark.parametrize("side", [7_000, 50_000])
def test_decompression_bomb_refused_before_decoding(monkeypatch, side):
    from PIL import Image

    bomb = png_bomb(side, side)
    assert len(bomb) < 100_000

    def no_decode(*args, **kwargs):
        raise AssertionError("no pixel may be decoded from a bomb")

    monkeypatch.setattr(Image.Image, "load", no_decode)
    with pytest.raises(intake.InvalidImage, match="too large") as err:
        intake.decode_image(bomb)
    assert err.value.status == 413


def test_tiny_images_are_refused_and_detector_is_safe():
    tiny = cv2.imencode(".png", np.zeros((1, 640, 3), np.uint8))[1].tobytes()
    with pytest.raises(intake.InvalidImage, match="too small"):
        intake.decode_image(tiny)
    assert pipeline.FaceDetector().detect(np.zeros((1, 640), np.uint8)) == []
    assert pipeline.FaceDetector().detect(np.zeros((30, 2000), np.uint8)) == []


def test_server_keeps_serving_after_fuzz(app, grace_hopper_path):
    resp = app.test_client().post("/api/predict", content_type="multipart/form-data",
                                  data={"image": (io.BytesIO(grace_hopper_path.read_bytes()),
                                                  "g.jpg")})
    assert resp.status_code == 200 and len(resp.get_json()["faces"]) == 1


# -- faults -------------------------------------------------------------------------------
def _video(path, n=20):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 50.0, (64, 48))
    for i in range(n):
        writer.write(np.full((48, 64, 3), 10 * i % 255, np.uint8))
    writer.release()


@pytest.mark.parametrize("fault", ["delete", "truncate"])
def test_video_file_deleted_or_truncated_while_streaming(tmp_path, fault):
    path = tmp_path / "clip.mp4"
    _video(path)
    backup = path.read_bytes()
    cam = VideoCamera(parse_source(str(path)), lambda f: (f, []), reconnect_delay=0.05)
    frames = cam.frames()
    next(frames)
    if fault == "delete":
        path.unlink()
    else:
        path.write_bytes(backup[:200])
    statuses = []
    for frame in frames:  # the open capture ends; reopening fails; the stream says so
        statuses.append(frame.status)
        if frame.status == "reconnecting":
            break
    path.write_bytes(backup)  # the file comes back: the stream recovers
    for frame in frames:
        if frame.status == "live":
            break
    frames.close()
    cam.stop()
    assert "reconnecting" in statuses and frame.status == "live"
    assert not cam.running


def test_200_viewer_cycles_leave_nothing_behind(shipped_model):
    """Real HTTP server on loopback; 200 viewers connect, read a frame and disconnect."""
    from werkzeug.serving import make_server

    cam = VideoCamera(parse_source("demo"), lambda f: (f, []), idle_timeout=0.5)
    app = create_app({"TESTING": True}, model=FakeModel(), camera=cam)
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    serve = threading.Thread(target=server.serve_forever, daemon=True)
    serve.start()
    proc = psutil.Process()
    threads_before = threading.active_count()
    rss_before = None
    for i in range(200):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(f"GET /video_feed HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
            got = b""
            while b"\xff\xd9" not in got:  # a whole JPEG
                chunk = s.recv(65536)
                assert chunk, got[:300]
                got += chunk
        if i == 20:
            gc.collect()
            rss_before = proc.memory_info().rss
    deadline = time.monotonic() + 10
    while (cam.viewers or cam.running or threading.active_count() > threads_before) \
            and time.monotonic() < deadline:
        time.sleep(0.1)
    gc.collect()
    rss_growth = (proc.memory_info().rss - rss_before) / 2**20
    server.shutdown()
    assert cam.viewers == 0 and not cam.running
    assert threading.active_count() <= threads_before
    assert rss_growth < 30, f"RSS grew {rss_growth:.1f} MB over 180 cycles"


# -- security defaults --------------------------------------------------------------------
def test_no_route_takes_a_path_or_source_from_the_client(app):
    rules = sorted(str(r) for r in app.url_map.iter_rules())
    assert rules == ["/", "/api/frame", "/api/predict", "/api/sources", "/api/status",
                     "/healthz", "/static/<path:filename>", "/video_feed",
                     "/video_feed/<int:index>"]  # sources are picked by index only
    client = app.test_client()
    before = client.get("/api/status").get_json()["source"]
    client.get("/video_feed?source=/etc/passwd").close()
    assert client.get("/api/status").get_json()["source"] == before
    assert client.get("/static/../main.py").status_code == 404


def test_debug_off_and_headers(app):
    assert not app.debug
    resp = app.test_client().get("/api/status")
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]


def test_needs_no_internet(monkeypatch, shipped_model, grace_hopper_path):
    real_connect = socket.socket.connect

    def loopback_only(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and not (host.startswith("127.") or host in ("::1",
                                                                              "localhost")):
            raise OSError(f"network access to {host} attempted")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", loopback_only)
    cam = VideoCamera(parse_source("demo"), lambda f: (f, []))
    app = create_app({"TESTING": True}, model=shipped_model, camera=cam)
    client = app.test_client()
    resp = client.post("/api/predict", content_type="multipart/form-data",
                       data={"image": (io.BytesIO(grace_hopper_path.read_bytes()), "g.jpg")})
    assert resp.status_code == 200
    assert b'src="http' not in client.get("/").data
    cam.stop()


@pytest.mark.slow
def test_cli_corrupt_model_files(tmp_path):
    import subprocess
    import sys

    from conftest import ROOT

    (tmp_path / "model.json").write_text("{broken")
    (tmp_path / "model_weights.h5").write_bytes(b"\x00" * 100)
    proc = subprocess.run([sys.executable, "main.py", "--source", "demo", "--port",
                           str(free_port())], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "FER_MODEL_DIR": str(tmp_path)})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("main.py: error:")
    assert len(proc.stderr.strip().splitlines()) == 1
