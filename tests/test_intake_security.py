"""Issue 11: Pillow intake (EXIF, WebP, TIFF, HEIC), Host allow-list, cross-site refusal,
bounded decoding under big concurrent uploads, waitress by default with JSON errors."""

import concurrent.futures
import http.client
import io
import threading
import time
import urllib.parse

import numpy as np
import psutil
import pytest
from PIL import Image

from camera import VideoCamera, parse_source
from conftest import FakeModel, demo_app, running_server
from ferapp import intake, security
from ferapp.detect import iou
from main import create_app


@pytest.fixture(scope="module")
def real_app(shipped_model):
    with demo_app(shipped_model) as app:
        yield app


@pytest.fixture()
def fake_app():
    with demo_app(FakeModel()) as app:
        yield app


def encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def post(client, data, name="photo.jpg", headers=None, query=""):
    return client.post(f"/api/predict{query}", data={"image": (io.BytesIO(data), name)},
                       content_type="multipart/form-data", headers=headers or {})


# ---------------------------------------------------------------- image intake

def test_phone_portrait_exif_orientation(real_app, grace_hopper_path):
    """A portrait photo stored sideways with EXIF Orientation 6, as phones write it."""
    upright = Image.open(grace_hopper_path).convert("RGB")
    client = real_app.test_client()
    truth = post(client, encode(upright, "JPEG", quality=95)).get_json()
    assert len(truth["faces"]) == 1
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # pixels lie on their side
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    data = encode(stored, "JPEG", quality=95, exif=exif.tobytes())
    assert Image.open(io.BytesIO(data)).size == (upright.height, upright.width)
    resp = post(client, data)
    assert resp.status_code == 200, resp.get_json()
    got = resp.get_json()
    assert (got["width"], got["height"]) == upright.size  # the upright picture's size
    assert len(got["faces"]) == 1
    assert iou(got["faces"][0]["box"], truth["faces"][0]["box"]) > 0.7


@pytest.mark.parametrize("fmt, name", [("WEBP", "p.webp"), ("TIFF", "p.tiff"),
                                       ("GIF", "p.gif"), ("BMP", "p.bmp"), ("PNG", "p.png")])
def test_formats_the_file_picker_offers(real_app, grace_hopper_path, fmt, name):
    img = Image.open(grace_hopper_path).convert("RGB")
    resp = post(real_app.test_client(), encode(img, fmt), name)
    assert resp.status_code == 200, resp.get_json()
    assert len(resp.get_json()["faces"]) == 1


def test_heic_works_or_is_a_clear_415(real_app, grace_hopper_path):
    img = Image.open(grace_hopper_path).convert("RGB")
    if intake.HEIF:
        resp = post(real_app.test_client(), encode(img, "HEIF"), "p.heic")
        assert resp.status_code == 200 and len(resp.get_json()["faces"]) == 1
    # a format Pillow knows but we do not read is named in the refusal
    ico = encode(img.resize((64, 64)), "ICO")
    resp = post(real_app.test_client(), ico, "p.ico")
    assert resp.status_code == 415 and "ICO images are not supported" in resp.get_json()["error"]


def test_big_jpeg_is_decoded_reduced_and_boxes_map_back(real_app, grace_hopper_path):
    img = Image.open(grace_hopper_path).convert("RGB")
    big = img.resize((img.width * 6, img.height * 6))  # 3072 x 3600
    decoded = intake.decode_image(encode(big, "JPEG", quality=90))
    assert decoded.scale == 1.0  # under 2x the working side: full size
    huge = img.resize((img.width * 10, img.height * 10))  # 5120 x 6000
    decoded = intake.decode_image(encode(huge, "JPEG", quality=85))
    assert decoded.scale == 2.0 and decoded.image.shape[:2] == (3000, 2560)
    assert (decoded.width, decoded.height) == huge.size
    resp = post(real_app.test_client(), encode(huge, "JPEG", quality=85))
    small = post(real_app.test_client(), encode(img, "JPEG", quality=95)).get_json()
    faces = resp.get_json()["faces"]
    assert len(faces) == 1
    expected = [v * 10 for v in small["faces"][0]["box"]]
    assert iou(faces[0]["box"], expected) > 0.6


def test_transparent_and_grey_images_decode(grace_hopper_path):
    img = Image.open(grace_hopper_path)
    for mode in ("L", "RGBA", "P", "I;16", "1", "CMYK"):
        fmt = "TIFF" if mode in ("I;16", "CMYK") else "PNG"
        decoded = intake.decode_image(encode(img.convert(mode), fmt))
        assert decoded.image.shape == (img.height, img.width, 3)
        assert decoded.image.dtype == np.uint8


# ---------------------------------------------------------------- hosts and origins

ROUTES = [("GET", "/"), ("GET", "/video_feed"), ("GET", "/api/status"), ("GET", "/healthz"),
          ("POST", "/api/predict"), ("GET", "/static/app.js"), ("GET", "/no-such-page")]


@pytest.mark.parametrize("method, path", ROUTES)
def test_foreign_host_is_refused_on_every_route(fake_app, method, path):
    client = fake_app.test_client()
    resp = client.open(path, method=method, headers={"Host": "attacker.example:5000"})
    assert resp.status_code == 421
    assert "unknown host" in resp.get_json()["error"]


@pytest.mark.parametrize("host", ["localhost", "localhost:5000", "127.0.0.1:5000", "[::1]:5000",
                                  "LOCALHOST:5000"])
def test_own_names_are_served(fake_app, host):
    assert fake_app.test_client().get("/healthz", headers={"Host": host}).status_code == 200


def test_allowed_hosts_rules():
    assert security.allowed_hosts("127.0.0.1") == {"localhost", "127.0.0.1", "::1"}
    assert "camera.lan" in security.allowed_hosts("127.0.0.1", ["Camera.LAN"])
    everywhere = security.allowed_hosts("0.0.0.0")
    import socket

    assert security.host_name(socket.gethostname()) in everywhere
    assert "attacker.example" not in everywhere
    assert security.host_name("[::1]:80") == "::1" and security.host_name("a.b.:5") == "a.b"


@pytest.mark.parametrize("headers, status", [
    ({"Origin": "http://attacker.example"}, 403),
    ({"Origin": "null"}, 403),
    ({"Sec-Fetch-Site": "cross-site"}, 403),
    ({"Sec-Fetch-Site": "same-site", "Origin": "http://localhost:5001"}, 403),
    ({"Origin": "http://localhost"}, 200),  # same origin (the test client's host)
    ({"Sec-Fetch-Site": "same-origin", "Origin": "http://localhost"}, 200),
    ({}, 200),  # curl and scripts send neither header
])
def test_cross_site_posts_are_refused(fake_app, grace_hopper_path, headers, status):
    resp = post(fake_app.test_client(), grace_hopper_path.read_bytes(), headers=headers)
    assert resp.status_code == status, resp.get_json()
    if status == 403:
        assert "cross-site" in resp.get_json()["error"]


def test_cross_site_get_of_the_page_still_works(fake_app):
    """Following a link from another site to the page is fine; only state changes are not."""
    resp = fake_app.test_client().get("/", headers={"Sec-Fetch-Site": "cross-site"})
    assert resp.status_code == 200


# ---------------------------------------------------------------- bounded decoding

def test_uploads_wait_for_a_slot_then_get_503(grace_hopper_path):
    cam = VideoCamera(parse_source("demo"), lambda f: (f, []))
    app = create_app({"TESTING": True, "DECODE_SLOTS": 1, "DECODE_WAIT_S": 0.2},
                     model=FakeModel(), camera=cam)
    try:
        slots = app.extensions["fer"]["decode_slots"]
        slots.acquire()  # another upload is being decoded
        resp = post(app.test_client(), grace_hopper_path.read_bytes())
        assert resp.status_code == 503 and resp.headers["Retry-After"] == "2"
        assert "busy" in resp.get_json()["error"]
        threading.Timer(0.05, slots.release).start()
        app.config["DECODE_WAIT_S"] = 5
        assert post(app.test_client(), grace_hopper_path.read_bytes()).status_code == 200
    finally:
        cam.stop()


def _multipart(data: bytes, name="big.jpg"):
    boundary = "fer-test-boundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; "
            f"filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n").encode()
    body += data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def request(url, method, path, body=None, headers=None, timeout=60):
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


@pytest.mark.slow
def test_concurrent_big_uploads_stay_bounded(grace_hopper_path):
    img = Image.open(grace_hopper_path).convert("RGB").resize((6000, 6000))
    data = encode(img, "JPEG", quality=90)
    body, ctype = _multipart(data)
    with running_server(env={"FER_DECODE_WAIT_S": "3"}) as (url, proc):
        server = psutil.Process(proc.pid)
        base = server.memory_info().rss
        peak, stop = [base], threading.Event()

        def sample():
            while not stop.is_set():
                peak[0] = max(peak[0], server.memory_info().rss)
                time.sleep(0.02)

        sampler = threading.Thread(target=sample)
        sampler.start()
        n = 6
        with concurrent.futures.ThreadPoolExecutor(n) as pool:
            results = list(pool.map(lambda _: request(url, "POST", "/api/predict", body,
                                                      {"Content-Type": ctype}), range(n)))
        stop.set()
        sampler.join()
        statuses = [s for s, _, _ in results]
        assert set(statuses) <= {200, 503}, statuses
        assert 200 in statuses
        for status, headers, payload in results:
            assert headers["Content-Type"] == "application/json"
            if status == 503:
                assert headers["Retry-After"] == "2"
        # one 6000x6000 RGB image alone is 108 MB: decoding is bounded and reduced
        assert peak[0] - base < 300 * 2**20, (base / 2**20, peak[0] / 2**20)
        assert request(url, "GET", "/healthz")[0] == 200


# ---------------------------------------------------------------- the real server

@pytest.mark.slow
def test_waitress_by_default_no_versions_json_errors():
    with running_server() as (url, proc):
        status, headers, _ = request(url, "GET", "/healthz")
        assert status == 200 and headers["Server"] == "fer-app"
        assert "Via" not in headers
        for method, path, extra, code in [
            ("GET", "/no-such-page", {}, 404),
            ("GET", "/api/predict", {}, 405),
            ("GET", "/api/status?" + "a" * 9000, {}, 414),
            ("GET", "/api/status", {f"X-Pad-{i}": "x" * 1000 for i in range(20)}, 431),
            ("GET", "/api/status", {f"X-Pad-{i}": "x" * 4000 for i in range(20)}, 431),
            ("GET", "/", {"Host": "attacker.example"}, 421),
        ]:
            status, headers, payload = request(url, method, path, headers=extra)
            assert status == code, (path, status, payload[:200])
            assert headers["Content-Type"].startswith("application/json"), (code, headers)
            assert b"error" in payload and b"Werkzeug" not in payload
            assert "Werkzeug" not in headers.get("Server", "") and "Python" not in str(headers)
        body, ctype = _multipart(b"\xff" * (11 * 2**20))
        status, headers, payload = request(url, "POST", "/api/predict", body,
                                           {"Content-Type": ctype})
        assert status == 413 and headers["Content-Type"].startswith("application/json")
        assert request(url, "GET", "/healthz")[0] == 200
    output = proc.stdout.read().decode()
    assert "development server" not in output and "WARNING" not in output


@pytest.mark.slow
def test_flask_server_on_request_also_hides_versions():
    with running_server("--server", "flask") as (url, _):
        status, headers, _ = request(url, "GET", "/healthz")
        assert status == 200 and headers["Server"] == "fer-app"
        status, headers, payload = request(url, "GET", "/api/status?" + "a" * 9000)
        assert status == 414 and headers["Content-Type"] == "application/json"
