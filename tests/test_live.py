"""The visitor's camera (/api/frame), the source list and picker routes, results history,
and HTTPS with --cert/--key."""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np
import pytest

from conftest import FakeModel, demo_app, running_server
from ferapp.live import BrowserSessions, LiveError

SESSION = "test-session-1"


def jpeg(image, quality=85) -> bytes:
    return cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes()


@pytest.fixture(scope="module")
def app(shipped_model):
    with demo_app(shipped_model) as app:
        yield app


def post_frame(client, data, session=SESSION, content_type="image/jpeg"):
    return client.post(f"/api/frame?session={session}", data=data,
                       headers={"Content-Type": content_type})


def test_a_camera_frame_gets_tracked_smoothed_faces(app, grace_hopper):
    client = app.test_client()
    frame = cv2.resize(grace_hopper, (320, 375))
    answers = []
    for _ in range(3):
        answers.append(post_frame(client, jpeg(frame), session="tracked-1"))
        assert answers[-1].status_code == 200, answers[-1].get_json()
        time.sleep(0.04)  # under the per-camera rate limit
    bodies = [r.get_json() for r in answers]
    assert [b["frame"] for b in bodies] == [1, 2, 3]
    assert bodies[0]["width"] == 320 and bodies[0]["height"] == 375
    face = bodies[-1]["faces"][0]
    assert face["id"] == bodies[0]["faces"][0]["id"]  # the same person, the same id
    assert face["emotion"] == max(face["scores"], key=face["scores"].get)
    x, y, w, h = face["box"]
    assert 60 < x + w / 2 < 260 and 40 < y + h / 2 < 220  # on Grace Hopper's face
    # another tab is another session: its own ids and frame count
    other = post_frame(client, jpeg(frame), session="tracked-2").get_json()
    assert other["frame"] == 1


@pytest.mark.parametrize("session", ["", "short", "bad/../id", "x" * 65])
def test_a_malformed_session_is_400(app, grace_hopper, session):
    r = post_frame(app.test_client(), jpeg(grace_hopper), session=session)
    assert r.status_code == 400 and "session" in r.get_json()["error"]


def test_garbage_frames_get_4xx_json(app, grace_hopper):
    client = app.test_client()
    cases = [
        (b"", "image/jpeg", 400),
        (b"not a jpeg at all", "image/jpeg", 415),
        (jpeg(grace_hopper)[:3000], "image/jpeg", 422),  # a truncated frame
        (b"hello", "text/plain", 415),
        (b"x" * (2 * 1024 * 1024 + 1), "image/jpeg", 413),
    ]
    for data, ctype, status in cases:
        r = post_frame(client, data, session=f"garbage-{status}-x", content_type=ctype)
        assert r.status_code == status, (ctype, len(data), r.get_json())
        assert r.is_json and r.get_json()["error"]
    # a frame with too many pixels (a small file: a flat 4000x3000 PNG)
    big = cv2.imencode(".png", np.zeros((3000, 4000, 3), np.uint8))[1].tobytes()
    r = post_frame(client, big, session="garbage-big-1", content_type="image/png")
    assert r.status_code == 413 and "too large" in r.get_json()["error"]
    assert app.test_client().get("/healthz").status_code == 200


def test_a_second_frame_while_one_is_analysed_is_dropped_not_queued():
    """A session's frames never queue: one in analysis, the next gets 429 at once."""
    started, release = threading.Event(), threading.Event()

    class Slow:
        def track(self, image):
            started.set()
            release.wait(5)
            return []

    sessions = BrowserSessions(Slow, max_fps=1000)
    result = {}
    worker = threading.Thread(
        target=lambda: result.update(first=sessions.analyze(SESSION, lambda: None)))
    worker.start()
    assert started.wait(5)
    t = time.monotonic()
    with pytest.raises(LiveError) as exc:
        sessions.analyze(SESSION, lambda: pytest.fail("a dropped frame is not decoded"))
    assert exc.value.status == 429 and time.monotonic() - t < 0.5
    release.set()
    worker.join(5)
    assert result["first"][1] == 1


def test_rate_and_session_limits():
    now = [0.0]

    class Quick:
        def track(self, image):
            return []

    sessions = BrowserSessions(Quick, max_sessions=2, idle_s=30, max_fps=10,
                               clock=lambda: now[0])
    sessions.analyze("aaaaaaaa", lambda: None)
    now[0] += 0.05  # faster than 10 frames/s
    with pytest.raises(LiveError) as exc:
        sessions.analyze("aaaaaaaa", lambda: None)
    assert exc.value.status == 429
    now[0] += 0.1
    sessions.analyze("aaaaaaaa", lambda: None)
    sessions.analyze("bbbbbbbb", lambda: None)
    with pytest.raises(LiveError) as exc:  # a third camera while two are active
        sessions.analyze("cccccccc", lambda: None)
    assert exc.value.status == 503
    now[0] += 31  # both idle: forgotten, room again
    sessions.analyze("cccccccc", lambda: None)
    assert len(sessions) == 1


def test_a_fast_client_does_not_grow_memory(app, grace_hopper):
    """Frames sent from many threads as fast as possible: answered or dropped, the
    sessions stay bounded."""
    client_frames = jpeg(cv2.resize(grace_hopper, (256, 300)))
    statuses = []

    def hammer(k):
        client = app.test_client()
        for _ in range(15):
            statuses.append(post_frame(client, client_frames, session=f"hammer-{k % 3}-x")
                            .status_code)

    threads = [threading.Thread(target=hammer, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert set(statuses) <= {200, 429} and 200 in statuses and 429 in statuses
    assert len(app.extensions["fer"]["browser"]) <= app.config["LIVE_MAX_SESSIONS"]


def test_sources_are_listed_by_index_without_paths(tmp_path, grace_hopper):
    from camera import VideoCamera, parse_source

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
    from camera import VideoCamera, parse_source
    from main import create_app
    from pipeline import FaceResult

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
        assert all(b["t"] >= a["t"] for a, b in zip(first["frames"], first["frames"][1:]))
        time.sleep(0.3)
        more = client.get(f"/api/status?after={numbers[-1]}").get_json()["frames"]
        assert more and more[0]["frame"] == numbers[-1] + 1
    finally:
        cam.stop()


@pytest.mark.slow
def test_https_with_cert_and_key(tmp_path):
    """--cert/--key: the app over TLS (cheroot), same JSON API and headers; plain HTTP to
    the TLS port gets no page."""
    import ssl
    import urllib.request

    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    cert.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "server.pem"))
    cert.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    args = ("--cert", str(tmp_path / "server.pem"), "--key", str(tmp_path / "key.pem"))
    with running_server(*args, scheme="https", ssl_context=ctx) as (url, proc):
        assert url.startswith("https://")
        with urllib.request.urlopen(url + "/api/sources", context=ctx, timeout=10) as r:
            assert r.status == 200 and r.headers["Server"] == "fer-app"
            assert r.headers["Content-Security-Policy"]
        with urllib.request.urlopen(url + "/", context=ctx, timeout=10) as r:
            assert b"source-picker" in r.read()
        try:
            urllib.request.urlopen(url + "/api/nothing", context=ctx, timeout=10)
        except urllib.error.HTTPError as e:
            assert e.code == 404 and e.headers["Content-Type"] == "application/json"
        with pytest.raises(OSError):  # not served in clear text
            urllib.request.urlopen(url.replace("https", "http") + "/", timeout=5).read()
        assert proc.poll() is None


@pytest.mark.slow
def test_bad_certificate_options_are_one_line_errors(tmp_path):
    import subprocess
    import sys

    from conftest import ROOT

    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    for args, needle in ((["--cert", str(junk)], "--cert and --key go together"),
                         (["--cert", str(junk), "--key", str(tmp_path / "none.pem")],
                          "does not exist"),
                         (["--cert", str(junk), "--key", str(junk)], "cannot use the certificate")):
        proc = subprocess.run([sys.executable, "main.py", "--source", "demo", "--port", "5996",
                               *args], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2, proc.stderr
        assert needle in proc.stderr and "Traceback" not in proc.stderr
