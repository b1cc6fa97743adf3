"""ferapp.web.api: uploads, the source list, the status feed, and the upload slots."""

from __future__ import annotations

import io
import struct
import threading
import time
import zlib
from itertools import pairwise

import cv2
import numpy as np
import pytest

from ferapp.vision.boxes import iou
from ferapp.vision.broadcast import VideoCamera
from ferapp.vision.pipeline import FaceResult
from ferapp.vision.sources import parse_source
from main import create_app
from tests.helpers import FakeModel, encode, post


def test_large_group_photo_upload_returns_every_face(devset, shipped_model):
    from ferapp.vision.broadcast import VideoCamera
    from ferapp.vision.sources import parse_source
    from main import create_app

    image, truth = devset("group_13.jpg")  # 19 people, 1024 px wide
    big = cv2.resize(image, None, fx=2.0, fy=2.0, interpolation=cv2.INTER_CUBIC)  # 2048 px
    data = cv2.imencode(".jpg", big, [cv2.IMWRITE_JPEG_QUALITY, 92])[1].tobytes()
    cam = VideoCamera(parse_source("demo"), lambda f: (f, []))
    app = create_app({"TESTING": True}, model=shipped_model, camera=cam)
    try:
        resp = app.test_client().post(
            "/api/predict", data={"image": (io.BytesIO(data), "group.jpg")},
            content_type="multipart/form-data")
    finally:
        cam.stop()
    assert resp.status_code == 200
    faces = resp.get_json()["faces"]
    boxes = [f["box"] for f in faces]
    scaled = [tuple(v * 2 for v in t) for t in truth]
    assert sum(any(iou(b, t) >= 0.4 for b in boxes) for t in scaled) == len(truth) == 19
    assert len(faces) == 19


def test_uploads_wait_for_the_decode_budget_then_get_503(grace_hopper_path):
    cam = VideoCamera(parse_source("demo"), lambda f: (f, []))
    app = create_app({"TESTING": True, "DECODE_BUDGET_MB": 128, "DECODE_WAIT_S": 0.2},
                     model=FakeModel(), camera=cam)
    try:
        budget = app.extensions["fer"].decode_budget
        taken = budget.total - 2**20  # other decodes hold all but 1 MB
        assert budget.acquire(taken, 0)
        resp = post(app.test_client(), grace_hopper_path.read_bytes())
        assert resp.status_code == 503 and resp.headers["Retry-After"] == "2"
        assert "busy" in resp.get_json()["error"]
        threading.Timer(0.05, budget.release, (taken,)).start()
        app.config["DECODE_WAIT_S"] = 5
        assert post(app.test_client(), grace_hopper_path.read_bytes()).status_code == 200
        assert budget.used == 0  # every hold was given back
    finally:
        cam.stop()


def test_an_image_that_could_never_fit_the_budget_is_413(grace_hopper_path):
    from PIL import Image

    cam = VideoCamera(parse_source("demo"), lambda f: (f, []))
    app = create_app({"TESTING": True, "DECODE_BUDGET_MB": 20}, model=FakeModel(),
                     camera=cam)
    try:
        big = Image.open(grace_hopper_path).convert("RGB").resize((3000, 2000))
        resp = post(app.test_client(), encode(big, "PNG"), "big.png")
        assert resp.status_code == 413
        assert "3000x2000 PNG would need" in resp.get_json()["error"]
        assert "within 20 MB" in resp.get_json()["error"]
    finally:
        cam.stop()


def test_sources_are_listed_by_index_without_paths(tmp_path, grace_hopper):
    from ferapp.vision.broadcast import VideoCamera
    from ferapp.vision.sources import parse_source

    photo = tmp_path / "secret-dir" / "photo.jpg"
    photo.parent.mkdir()
    cv2.imwrite(str(photo), grace_hopper)
    cams = [VideoCamera(parse_source(s), lambda f: (f, []))
            for s in ("demo", str(photo), "rtsp://user:pw@cam.local:554/live?token=1")]
    from main import create_app

    app = create_app({"TESTING": True}, model=FakeModel(), cameras=cams)
    client = app.test_client()
    listed = client.get("/api/sources").get_json()["sources"]
    assert listed == [{"index": 0, "kind": "demo", "name": "demo"},
                      {"index": 1, "kind": "image", "name": "photo.jpg"},
                      {"index": 2, "kind": "url", "name": "rtsp://cam.local:554"}]
    assert "secret-dir" not in client.get("/api/status?source=1").get_data(as_text=True)
    for url in ("/api/status?source=3", "/video_feed/3"):
        r = client.get(url)
        assert r.status_code == 404 and "/api/sources" in r.get_json()["error"]
    for url in ("/api/status?source=-1", "/api/status?source=x", "/api/status?after=x"):
        assert client.get(url).status_code == 400
    for cam in cams:
        cam.stop()


def test_status_after_returns_each_frame_once(grace_hopper):
    """The results history: every analysed frame after N with its time and faces."""
    from ferapp.vision.broadcast import VideoCamera
    from ferapp.vision.sources import parse_source
    from main import create_app

    result = FaceResult((1, 2, 3, 4), {"happy": 0.9, "sad": 0.1}, face_id=7)
    cam = VideoCamera(parse_source("demo"), lambda f: (f, [result]))
    app = create_app({"TESTING": True}, model=FakeModel(), camera=cam)
    client = app.test_client()
    try:
        assert cam.wait_frame(-1) is not None
        deadline = time.monotonic() + 10
        while cam.latest().number < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        first = client.get("/api/status?after=-1").get_json()
        numbers = [f["frame"] for f in first["frames"]]
        assert numbers == list(range(1, len(numbers) + 1)) and len(numbers) >= 5
        assert first["frames"][0]["faces"][0]["id"] == 7
        assert all(b["t"] >= a["t"] for a, b in pairwise(first["frames"]))
        time.sleep(0.3)
        more = client.get(f"/api/status?after={numbers[-1]}").get_json()["frames"]
        assert more and more[0]["frame"] == numbers[-1] + 1
    finally:
        cam.stop()


def png_header(width, height):
    """A PNG whose header declares width x height (the pixels are missing)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk
            + struct.pack(">I", zlib.crc32(chunk)))


def post_image(client, data, name="photo.jpg", query=""):
    return client.post(f"/api/predict{query}", data={"image": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")


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
    parts = client.post("/api/predict", content_type="multipart/form-data",
                        data={f"f{k}": "x" for k in range(1001)})
    assert parts.status_code == 413
    assert "too many parts in the form (at most 1000)" in parts.get_json()["error"]
    assert "larger than" in big.get_json()["error"]
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


def test_status_history_is_paged_with_a_cursor():
    """/api/status?after=N answers at most STATUS_PAGE frames, oldest first, with the
    cursor of the next page: a client that polls from -1 costs one page, not the history."""
    from ferapp.vision.broadcast import VideoCamera
    from ferapp.vision.sources import parse_source
    from ferapp.web.api import STATUS_PAGE
    from main import create_app

    cam = VideoCamera(parse_source("demo"), lambda f: (f, []))
    result = FaceResult((1, 2, 3, 4), {"happy": 0.9, "sad": 0.1}, face_id=3)
    for _ in range(2 * STATUS_PAGE + 30):
        cam._publish(b"jpeg", [result], 640, 480)
    cam._publish(b"jpeg", [], 640, 480, status="reconnecting")  # not in the history
    cam._publish(b"jpeg", [result], 640, 480)
    client = create_app({"TESTING": True}, model=FakeModel(), camera=cam).test_client()
    seen, after, answers = [], -1, 0
    while True:
        page = client.get(f"/api/status?after={after}").get_json()
        answers += 1
        assert len(page["frames"]) <= STATUS_PAGE
        seen += [f["frame"] for f in page["frames"]]
        assert page["next"] == (seen[-1] if seen else after)
        after = page["next"]
        if not page["more"]:
            break
    assert answers == 3
    assert seen == [*range(1, 2 * STATUS_PAGE + 31), 2 * STATUS_PAGE + 32]  # once, in order
    assert page["frames"][-1]["faces"][0]["id"] == 3
    small = client.get("/api/status?after=10&limit=5").get_json()
    assert [f["frame"] for f in small["frames"]] == [11, 12, 13, 14, 15] and small["more"]
    big = client.get(f"/api/status?after=-1&limit={10 * STATUS_PAGE}").get_json()
    assert len(big["frames"]) == STATUS_PAGE
    caught_up = client.get(f"/api/status?after={seen[-1]}").get_json()
    assert caught_up["frames"] == [] and caught_up["next"] == seen[-1] and not caught_up["more"]
    for bad in ("limit=0", "limit=x", "after=-2"):
        assert client.get(f"/api/status?after=1&{bad}".replace("after=1&after", "after"))\
            .status_code == 400
