"""ferapp.web.pages: the page, the MJPEG stream and the liveness check."""

import cv2
import numpy as np
import pytest


@pytest.mark.slow
def test_the_shipped_model_is_served_int8_with_flip_tta(real_app):
    health = real_app.test_client().get("/healthz").get_json()
    assert (health["runtime"], health["flip_tta"]) == ("int8", True)


def test_index_page_and_security_headers(fake_app):
    resp = fake_app.test_client().get("/")
    assert resp.status_code == 200
    assert b'id="stream"' in resp.data and b"source-picker" in resp.data
    assert b"upload-form" in resp.data and b"record" in resp.data
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'self'" in resp.headers["Content-Security-Policy"]
    assert b"http://" not in resp.data and b"https://" not in resp.data  # no CDN


def test_healthz(fake_app):
    assert fake_app.test_client().get("/healthz").get_json()["status"] == "ok"


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
