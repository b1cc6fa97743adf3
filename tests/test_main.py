import io
import struct
import subprocess
import sys
import zlib

import cv2
import numpy as np
import pytest

from camera import VideoCamera, parse_source
from conftest import ROOT, FakeCapture, FakeModel
from main import create_app


@pytest.fixture
def fake_app():
    model = FakeModel()
    cam = VideoCamera(parse_source("demo"), lambda f: (f, []), opener=lambda s: FakeCapture())
    app = create_app({"TESTING": True}, model=model, camera=cam)
    yield app
    cam.stop()


@pytest.fixture(scope="module")
def real_app(shipped_model):
    """The real model and the real demo source."""
    app = create_app({"TESTING": True, "SOURCE": "demo"}, model=shipped_model)
    yield app
    app.extensions["fer"]["camera"].stop()


@pytest.mark.slow
def test_the_shipped_model_is_served_int8_with_flip_tta(real_app):
    health = real_app.test_client().get("/healthz").get_json()
    assert (health["runtime"], health["flip_tta"]) == ("int8", True)


def png_header(width, height):
    """A PNG whose header declares width x height (the pixels are missing)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk
            + struct.pack(">I", zlib.crc32(chunk)))


def post_image(client, data, name="photo.jpg", query=""):
    return client.post(f"/api/predict{query}", data={"image": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")


def test_index_page_and_security_headers(fake_app):
    resp = fake_app.test_client().get("/")
    assert resp.status_code == 200
    assert b'id="stream"' in resp.data and b"source-picker" in resp.data
    assert b"upload-form" in resp.data and b"record" in resp.data
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'self'" in resp.headers["Content-Security-Policy"]
    assert b"http://" not in resp.data and b"https://" not in resp.data  # no CDN


def test_defaults_are_safe():
    from main import parse_args

    args = parse_args([])
    assert args.host == "127.0.0.1" and args.port == 5000


def test_healthz(fake_app):
    assert fake_app.test_client().get("/healthz").get_json()["status"] == "ok"


@pytest.mark.parametrize("data, status, message", [
    (b"", 400, "empty"),
    (b"hello, this is text", 415, "not an image we can read: send PNG, JPEG"),
    (b"\xff\xd8\xff\xe0" + b"\x00" * 40, 415, "not an image"),
    (png_header(100_000, 100_000), 415, "not an image"),  # a header and nothing else
    (png_header(0, 10), 415, "not an image"),
])
def test_bad_uploads_get_4xx_json(fake_app, data, status, message):
    resp = post_image(fake_app.test_client(), data)
    assert resp.status_code == status
    assert message in resp.get_json()["error"]


def test_truncated_jpeg(fake_app, grace_hopper_path):
    data = grace_hopper_path.read_bytes()
    resp = post_image(fake_app.test_client(), data[: len(data) // 3])
    assert resp.status_code in (200, 422)  # OpenCV may decode a partial JPEG
    assert resp.is_json


def test_upload_limits_and_form_errors(fake_app):
    client = fake_app.test_client()
    big = post_image(client, b"\xff" * (11 * 1024 * 1024))
    assert big.status_code == 413 and "error" in big.get_json()
    missing = client.post("/api/predict", data={"other": "x"},
                          content_type="multipart/form-data")
    assert missing.status_code == 400 and "field 'image'" in missing.get_json()["error"]
    several = client.post("/api/predict", content_type="multipart/form-data", data={
        "image": [(io.BytesIO(b"a"), "a.jpg"), (io.BytesIO(b"b"), "b.jpg")]})
    assert several.status_code == 400
    raw = client.post("/api/predict", data=b"\x89PNG", content_type="image/png")
    assert raw.status_code == 415
    assert client.get("/api/predict").status_code == 405
    assert client.get("/healthz").status_code == 200  # still serving


def test_real_model_on_real_photo(real_app, grace_hopper_path):
    resp = post_image(real_app.test_client(), grace_hopper_path.read_bytes())
    body = resp.get_json()
    assert resp.status_code == 200 and (body["width"], body["height"]) == (512, 600)
    assert len(body["faces"]) == 1
    face = body["faces"][0]
    x, y, w, h = face["box"]
    assert 100 < x < 250 and 50 < y < 200 and 150 < w < 300  # her face, not the uniform
    assert list(face["scores"]) == ["angry", "disgust", "fear", "happy", "sad", "surprise",
                                    "neutral"]
    assert sum(face["scores"].values()) == pytest.approx(1, abs=1e-3)
    assert face["emotion"] == max(face["scores"], key=face["scores"].get)


def test_one_request_gives_scores_and_annotated_picture(real_app, grace_hopper_path):
    import base64

    resp = post_image(real_app.test_client(), grace_hopper_path.read_bytes(), query="?image=1")
    body = resp.get_json()
    assert resp.status_code == 200 and len(body["faces"]) == 1
    jpeg = base64.b64decode(body["annotated_jpeg"])
    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert img.shape[:2] == (body["height"], body["width"])


def test_annotated_upload_is_a_jpeg(real_app, grace_hopper_path):
    resp = post_image(real_app.test_client(), grace_hopper_path.read_bytes(),
                      query="?annotate=1")
    assert resp.status_code == 200 and resp.mimetype == "image/jpeg"
    img = cv2.imdecode(np.frombuffer(resp.data, np.uint8), cv2.IMREAD_COLOR)
    original = cv2.imread(str(grace_hopper_path))
    assert img.shape == original.shape
    assert np.abs(img.astype(int) - original.astype(int)).max() > 100  # a box was drawn


def test_video_feed_from_demo_yields_decodable_jpegs(real_app):
    client = real_app.test_client()
    resp = client.get("/video_feed")
    assert resp.mimetype == "multipart/x-mixed-replace"
    chunks = resp.iter_encoded()
    jpegs = []
    for _ in range(3):
        part = next(chunks)
        head, _, body = part.partition(b"\r\n\r\n")
        assert head.startswith(b"--frame\r\nContent-Type: image/jpeg")
        img = cv2.imdecode(np.frombuffer(body[:-2], np.uint8), cv2.IMREAD_COLOR)
        assert img is not None and img.shape == (480, 640, 3)
        jpegs.append(body)
    resp.close()
    status = client.get("/api/status").get_json()
    assert status["kind"] == "demo" and len(status["faces"]) == 1
    assert status["faces"][0]["box"][2] > 50


def run_main(*args, env=None, timeout=120):
    import os

    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "main.py", *args], cwd=ROOT, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_cli_missing_source_is_one_line_error(tmp_path):
    proc = run_main("--source", str(tmp_path / "nope.mp4"), "--port", "5999")
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("main.py: error: source")
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_cli_missing_model_is_one_line_error(tmp_path):
    proc = run_main("--source", "demo", "--port", "5998", env={"FER_MODEL_DIR": str(tmp_path)})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "model file" in proc.stderr and "not found" in proc.stderr


@pytest.mark.slow
def test_cli_port_in_use():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        proc = run_main("--source", "demo", "--port", str(port))
    assert proc.returncode == 2 and "in use" in proc.stderr and "Traceback" not in proc.stderr
