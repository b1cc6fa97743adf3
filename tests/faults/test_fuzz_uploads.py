"""Fuzzing the upload API with mutated real images: never a 5xx, and the server keeps serving."""

import io
import os
import struct

import cv2
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import png_bomb

JPEG_SEED = cv2.imencode(".jpg", np.random.default_rng(0).integers(
    0, 255, (64, 80, 3), dtype=np.uint8))[1].tobytes()


PNG_SEED = cv2.imencode(".png", np.random.default_rng(1).integers(
    0, 255, (40, 30, 3), dtype=np.uint8))[1].tobytes()


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


@settings(max_examples=int(os.environ.get("FER_FUZZ_EXAMPLES", 2000)), deadline=None,
          suppress_health_check=list(HealthCheck))
@given(payload=payloads,
       field=st.sampled_from(["image", "image", "image", "file", ""]),
       count=st.integers(0, 3),
       content_type=st.sampled_from(["multipart/form-data", "image/jpeg",
                                     "application/octet-stream", "text/plain", ""]),
       filename=st.text(max_size=30))
def test_fuzz_predict_never_5xx(app, payload, field, count, content_type, filename):
    client = app.test_client()
    if content_type == "multipart/form-data":
        files = [(io.BytesIO(payload), filename or "x") for _ in range(count)]
        resp = client.post("/api/predict", data={field: files} if field else {},
                           content_type=content_type)
    else:
        resp = client.post("/api/predict", data=payload,
                           headers={"Content-Type": content_type} if content_type else {})
    assert resp.status_code == 200 or 400 <= resp.status_code < 500, resp.status_code
    assert resp.is_json and ("error" in resp.get_json() or "faces" in resp.get_json())


def test_server_keeps_serving_after_fuzz(app, grace_hopper_path):
    resp = app.test_client().post("/api/predict", content_type="multipart/form-data",
                                  data={"image": (io.BytesIO(grace_hopper_path.read_bytes()),
                                                  "g.jpg")})
    assert resp.status_code == 200 and len(resp.get_json()["faces"]) == 1
