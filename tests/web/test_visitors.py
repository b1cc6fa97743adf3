"""ferapp.web.visitors: frames from visitors' cameras, tracked and smoothed per session,
rate-limited."""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np
import pytest

from ferapp.vision.intake import HEIF
from ferapp.web.visitors import BrowserSessions, LiveError

SESSION = "test-session-1"


def jpeg(image, quality=85) -> bytes:
    return cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes()


def post_frame(client, data, session=SESSION, content_type="image/jpeg", addr="127.0.0.1"):
    return client.post(f"/api/frame?session={session}", data=data,
                       headers={"Content-Type": content_type},
                       environ_base={"REMOTE_ADDR": addr})


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


@pytest.mark.parametrize("fmt", ["TIFF", "GIF", "BMP"] + (["HEIF"] if HEIF else []))
def test_the_frame_format_is_checked_on_the_bytes_not_the_declared_type(app, grace_hopper,
                                                                       fmt):
    from PIL import Image

    from tests.helpers import encode

    image = Image.fromarray(cv2.cvtColor(grace_hopper, cv2.COLOR_BGR2RGB))
    r = post_frame(app.test_client(), encode(image, fmt), session=f"format-{fmt}-1")
    assert r.status_code == 415, r.get_json()
    assert "images are not accepted here: send JPEG, PNG, WebP" in r.get_json()["error"]
    for ok in ("PNG", "WEBP"):  # the three the route takes, whatever their declared type
        r = post_frame(app.test_client(), encode(image, ok), session=f"format-{ok}-1")
        assert r.status_code == 200, r.get_json()


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
    with pytest.raises(LiveError) as exc:  # at once: the first is held until `release`
        sessions.analyze(SESSION, lambda: pytest.fail("a dropped frame is not decoded"))
    assert exc.value.status == 429 and not release.is_set()
    release.set()
    worker.join(5)
    assert result["first"][1] == 1


def test_a_camera_below_the_rate_limit_is_never_refused_for_timer_jitter():
    """28 frames/s against a limit of 30, each interval off by up to 40 % (a browser's
    timers): no frame refused; 45 frames/s with the same jitter: a third refused."""
    import random

    class Quick:
        def track(self, image):
            return []

    for fps, refused_share in ((28, (0, 0)), (45, (0.28, 0.38))):
        now = [0.0]
        sessions = BrowserSessions(Quick, max_fps=30, clock=lambda now=now: now[0])
        rng, refused = random.Random(fps), 0
        for _ in range(600):
            try:
                sessions.analyze("jittery1", lambda: None)
            except LiveError:
                refused += 1
            now[0] += (1 / fps) * rng.uniform(0.6, 1.4)
        assert refused_share[0] <= refused / 600 <= refused_share[1], (fps, refused)


def test_rate_and_session_limits():
    now = [0.0]

    class Quick:
        def track(self, image):
            return []

    sessions = BrowserSessions(Quick, max_sessions=2, idle_s=30, max_fps=10,
                               clock=lambda: now[0])
    refused = []
    for _ in range(40):  # 20 frames/s against 10: a short burst, then half of them
        try:
            sessions.analyze("aaaaaaaa", lambda: None)
        except LiveError as exc:
            assert exc.status == 429 and "at most 10 frames/s" in str(exc)
            refused.append(now[0])
        now[0] += 0.05
    assert 14 <= len(refused) <= 17 and refused[0] > 0.2  # the mean rate is held
    now[0] += 0.3
    sessions.analyze("aaaaaaaa", lambda: None)
    sessions.analyze("bbbbbbbb", lambda: None)
    with pytest.raises(LiveError) as exc:  # a third camera while two are active
        sessions.analyze("cccccccc", lambda: None)
    assert exc.value.status == 503
    now[0] += 31  # both idle: forgotten, room again
    sessions.analyze("cccccccc", lambda: None)
    assert len(sessions) == 1


def test_a_fast_client_is_answered_or_dropped_and_keeps_its_three_sessions(app, grace_hopper):
    """Frames of three sessions sent from six threads as fast as possible: each answered or
    dropped (429), never queued, and the server holds exactly those three sessions (what
    the server holds per camera is its session; memory under load: bench/load_test.py)."""
    client_frames = jpeg(cv2.resize(grace_hopper, (256, 300)))
    statuses = []

    def hammer(k):
        client = app.test_client()
        for _ in range(15):
            statuses.append(post_frame(client, client_frames, session=f"hammer-{k % 3}-x",
                                       addr="10.0.0.9").status_code)

    threads = [threading.Thread(target=hammer, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert set(statuses) <= {200, 429} and 200 in statuses and 429 in statuses
    browser = app.extensions["fer"].browser
    assert len([s for s in browser._sessions.values() if s.client == "10.0.0.9"]) == 3
    assert len(browser) <= app.config["LIVE_MAX_SESSIONS"]


class _Quick:
    def track(self, image):
        return []


def _refuse(image=None):
    raise LiveError(415, "not an image")


def test_junk_takes_no_session_slot():
    """Frames that do not decode, each with a fresh session id, open no session: a real
    camera is served after any number of them (the lockout the probe found)."""
    sessions = BrowserSessions(_Quick, max_sessions=8)
    for k in range(50):
        with pytest.raises(LiveError) as exc:
            sessions.analyze(f"junk-{k:04d}", _refuse, "10.0.0.66")
        assert exc.value.status == 415
    assert len(sessions) == 0
    assert sessions.analyze("visitor-1", lambda: "image", "10.0.0.5")[1] == 1


def test_one_client_cannot_take_every_slot():
    now = [0.0]
    sessions = BrowserSessions(_Quick, max_sessions=8, per_client=3, clock=lambda: now[0])
    for k in range(3):
        sessions.analyze(f"greedy-{k}-x", lambda: "image", "10.0.0.66")
    with pytest.raises(LiveError) as exc:
        sessions.analyze("greedy-3-x", lambda: "image", "10.0.0.66")
    assert exc.value.status == 503 and "this client" in str(exc.value)
    for k in range(5):  # the other slots stay for other clients
        sessions.analyze(f"visitor-{k}-x", lambda: "image", f"10.0.1.{k}")
    assert len(sessions) == 8
    with pytest.raises(LiveError) as exc:  # all taken and all active
        sessions.analyze("late-1-xx", lambda: "image", "10.0.2.1")
    assert exc.value.status == 503
    now[0] += 6  # the oldest has been silent past stale_s: it gives way to a newcomer
    sessions.analyze("visitor-0-x", lambda: "image", "10.0.1.0")  # ... but not this one
    sessions.analyze("late-1-xx", lambda: "image", "10.0.2.1")
    assert len(sessions) == 8
    assert "greedy-0-x" not in sessions._sessions  # the oldest silent one gave way
