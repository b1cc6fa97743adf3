"""A real server probed as an attacker on the same network would, in bounded loops on
loopback: the token beyond loopback, and the page and API kept served whatever streams,
slow or silent sockets, status pollers and junk camera frames do (issue 26's findings)."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time

import pytest

from tests.e2e.pages import wait_for
from tests.helpers import running_server, tls_certificate

TOKEN = "e2e-token-0123456789abcdefghij"
NAME = socket.gethostname()
ANSWER_S = 5  # an answer within this is "served"; blocked servers took 30-40 s


def read_until(proc, text: str, timeout: float = 30) -> str:
    """What the server printed until ``text`` appears (its stdout read without blocking)."""
    import os

    os.set_blocking(proc.stdout.fileno(), False)
    got = ""
    def seen():
        nonlocal got
        got += (proc.stdout.read() or b"").decode()
        return text in got
    wait_for(seen, timeout=timeout, interval=0.05)
    os.set_blocking(proc.stdout.fileno(), True)
    return got


def call(port, path, method="GET", headers=None, body=None, context=None, host=None):
    """(status, headers, body) of one request to 127.0.0.1:port naming ``host``."""
    cls = http.client.HTTPSConnection if context else http.client.HTTPConnection
    kw = {"context": context} if context else {}
    conn = cls("127.0.0.1", port, timeout=ANSWER_S, **kw)
    try:
        conn.request(method, path, body=body,
                     headers={"Host": f"{host or '127.0.0.1'}:{port}", **(headers or {})})
        resp = conn.getresponse()
        data = resp.read(4096) if "video_feed" in path else resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
    finally:
        conn.close()


def port_of(url):
    return int(url.rsplit(":", 1)[1])


def startup_line(proc) -> str:
    """The line the server printed once it listened (read by running_server)."""
    lines = [ln for ln in proc.startup_output.decode().splitlines() if ln.startswith("Serving")]
    assert lines, proc.startup_output
    return lines[0]


@pytest.fixture(scope="module")
def exposed():
    """``--host 0.0.0.0`` without --token: a random token, printed in the URL."""
    with running_server("--host", "0.0.0.0") as (url, proc):
        line = startup_line(proc)
        token = line.split("?token=", 1)[1].split()[0]
        yield port_of(url), token, line


ROUTES = [("GET", "/"), ("GET", "/video_feed"), ("GET", "/api/status"),
          ("GET", "/api/sources"), ("POST", "/api/predict"), ("POST", "/api/frame"),
          ("GET", "/static/js/main.js")]


@pytest.mark.slow
def test_beyond_loopback_every_route_but_healthz_needs_the_token(exposed):
    port, token, line = exposed
    assert f"http://{NAME}:{port}/?token=" in line and len(token) >= 32
    for method, path in ROUTES:
        status, headers, body = call(port, path, method, host=NAME, body=b"")
        assert status == 401, (method, path, status)
        assert token.encode() not in body
        if path != "/":
            assert json.loads(body)["error"]
    assert call(port, "/healthz", host=NAME)[0] == 200


@pytest.mark.slow
def test_the_token_url_sets_the_cookie_and_bearer_works(exposed):
    port, token, _ = exposed
    status, headers, _ = call(port, f"/?token={token}", host=NAME)
    assert status == 303 and headers["location"] == "/"
    cookie = headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and token not in cookie
    session = cookie.split(";", 1)[0]
    assert call(port, "/api/sources", headers={"Cookie": session}, host=NAME)[0] == 200
    status, headers, _ = call(port, "/api/status",
                              headers={"Authorization": f"Bearer {token}"}, host=NAME)
    assert status == 200 and "set-cookie" not in headers


@pytest.mark.slow
def test_wrong_tokens_get_429_while_the_token_is_served(exposed):
    port, token, _ = exposed
    codes = [call(port, "/api/status", headers={"Authorization": f"Bearer guess{k}"})[0]
             for k in range(10)]
    assert codes[:5] == [401] * 5 and codes[-1] == 429
    status, headers, body = call(port, "/api/status?token=guess")
    assert status == 429 and int(headers["retry-after"]) > 0 and json.loads(body)["error"]
    good = call(port, "/api/status", headers={"Authorization": f"Bearer {token}"})
    assert good[0] == 200
    # over-long (the app's header limit), of the wrong form, not HTTP at all (waitress
    # refuses control characters in any header): JSON, never a 5xx
    for header, expected in (("Bearer " + "z" * 20000, 431), ("Token abc", 401),
                             ("Bearer", 401), ("Bearer \x01", 400)):
        status, _, body = call(port, "/api/status", headers={"Authorization": header})
        assert status == expected and json.loads(body)["error"], header[:10]


@pytest.mark.slow
def test_no_auth_needs_saying_and_warns():
    with running_server("--host", "0.0.0.0", "--no-auth") as (url, proc):
        port = port_of(url)
        assert call(port, "/api/status", host=NAME)[0] == 200
        proc.terminate()
        out = proc.startup_output.decode() + proc.stdout.read().decode()
    assert "WARNING: --no-auth" in out and "?token=" not in out


@pytest.mark.slow
def test_the_token_stays_out_of_the_logs():
    """Flask's server logs every request line: the ?token= query is not in it; the token
    appears once, in the start-up URL the user is meant to open."""
    with running_server("--server", "flask", "--token", TOKEN) as (url, proc):
        port = port_of(url)
        assert call(port, f"/?token={TOKEN}")[0] == 303
        assert call(port, "/api/status", headers={"Authorization": "Bearer wrong-one"})[0] \
            == 401
        out = proc.startup_output.decode()  # the start-up lines, the URL among them
        out += read_until(proc, "/api/status")  # the log line of the last request
        proc.terminate()
        out += proc.stdout.read().decode()
    assert out.count(TOKEN) == 1 and "GET /?..." in out


@pytest.mark.slow
def test_https_cookie_is_secure_and_hsts_is_sent(tls_files):
    cert, key, context = tls_files
    with running_server("--cert", cert, "--key", key, "--token", TOKEN, scheme="https",
                        ssl_context=context) as (url, _):
        port = port_of(url)
        status, headers, _ = call(port, f"/?token={TOKEN}", context=context, host="localhost")
        assert status == 303 and "Secure" in headers["set-cookie"]
        assert headers["strict-transport-security"].startswith("max-age=")
        assert call(port, "/api/status", context=context, host="localhost")[0] == 401


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    cert, key, context = tls_certificate(tmp_path_factory.mktemp("tls"))
    context.check_hostname = False  # requests go to 127.0.0.1 naming localhost
    return cert, key, context


@pytest.fixture(scope="module")
def plain():
    with running_server() as (url, _):
        yield port_of(url)


def open_sockets(port, n, first_bytes=b""):
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        if first_bytes:
            s.sendall(first_bytes)
        socks.append(s)
    return socks


def close_all(socks):
    for s in socks:
        s.close()


def _photo_form() -> bytes:
    """A multipart form holding a real photo (grace_hopper.jpg, one face)."""
    from pathlib import Path

    import matplotlib.cbook as cbook

    photo = Path(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)).read_bytes()
    return (b"--x\r\nContent-Disposition: form-data; name=\"image\"; filename=\"p.jpg\"\r\n"
            b"Content-Type: image/jpeg\r\n\r\n" + photo + b"\r\n--x--\r\n")


def still_served(port, context=None, host="127.0.0.1"):
    """/healthz, the page and an upload of a real photo, decoded and analysed, answer
    (within ANSWER_S each)."""
    assert call(port, "/healthz", context=context, host=host)[0] == 200
    assert call(port, "/", context=context, host=host)[0] == 200
    status, _, body = call(port, "/api/predict", "POST", context=context, host=host,
                           headers={"Content-Type": "multipart/form-data; boundary=x"},
                           body=_photo_form())
    assert status == 200 and len(json.loads(body)["faces"]) == 1, body[:300]


@pytest.mark.slow
def test_100_stalled_viewers_leave_the_page_and_api_served(plain):
    viewers = open_sockets(plain, 100, b"GET /video_feed HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    try:
        wait_for(lambda: call(plain, "/video_feed")[0] == 503)  # every slot taken
        still_served(plain)
        status, headers, body = call(plain, "/video_feed")
        assert status == 503 and "too many viewers" in json.loads(body)["error"]
        assert int(headers["retry-after"]) > 0
    finally:
        close_all(viewers)


@pytest.mark.slow
def test_slowloris_silent_and_idle_sockets_do_not_stop_new_connections(plain):
    socks = open_sockets(plain, 150, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    socks += open_sockets(plain, 100)
    idle = open_sockets(plain, 100)
    for s in idle:  # keep-alive: one answered request, then nothing
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    try:
        still_served(plain)
    finally:
        close_all(socks + idle)


@pytest.mark.slow
def test_trickled_headers_are_cut_off_after_a_fixed_total_time(plain):
    from ferapp.web.channels import HEADER_TIMEOUT_S

    s = socket.create_connection(("127.0.0.1", plain), timeout=1)
    s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    started, closed = time.monotonic(), False
    while time.monotonic() - started < HEADER_TIMEOUT_S + 10:
        try:
            s.sendall(b"X-Slow: 1\r\n")  # one header line a second: never idle
            closed = s.recv(100) == b""
        except TimeoutError:
            continue
        except OSError:
            closed = True
        if closed:
            break
    s.close()
    assert closed, "a trickling client kept its connection"


@pytest.mark.slow
def test_a_viewer_that_stops_reading_gives_its_slot_back():
    """Fill every viewer slot with readers that stop; after the stall timeout, a new
    viewer is served again (its thread came back)."""
    from ferapp.web.channels import STALL_TIMEOUT_S

    with running_server(env={"FER_MAX_VIEWERS": "3"}) as (url, _):
        port = port_of(url)
        stalled = open_sockets(port, 3, b"GET /video_feed HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        try:
            wait_for(lambda: call(port, "/video_feed")[0] == 503)  # every slot taken
            # after the stall timeout, a slot comes back
            wait_for(lambda: call(port, "/video_feed")[0] == 200, timeout=STALL_TIMEOUT_S + 25)
        finally:
            close_all(stalled)


@pytest.mark.slow
def test_https_handshakes_do_not_block_other_visitors(tls_files):
    cert, key, context = tls_files
    with running_server("--cert", cert, "--key", key, scheme="https",
                        ssl_context=context) as (url, _):
        port = port_of(url)
        silent = open_sockets(port, 30)  # TCP connected, never a ClientHello
        slow = open_sockets(port, 50, b"\x16\x03\x01")  # a ClientHello that never ends
        try:
            still_served(port, context=context, host="localhost")
            viewers = [threading.Thread(target=call, args=(port, "/video_feed"),
                                        kwargs={"context": context, "host": "localhost"})
                       for _ in range(3)]
            for v in viewers:
                v.start()
            for v in viewers:
                v.join(ANSWER_S + 1)
            still_served(port, context=context, host="localhost")
        finally:
            close_all(silent + slow)


@pytest.mark.slow
def test_status_answers_are_bounded(plain):
    from ferapp.web.api import STATUS_PAGE

    call(plain, "/video_feed")  # starts the stream
    # wait until more frames are kept than one answer may hold (the demo's 15 frames/s)
    wait_for(lambda: json.loads(call(plain, "/api/status?after=-1")[2])["more"], timeout=60)
    status, _, body = call(plain, "/api/status?after=-1")
    page = json.loads(body)
    assert status == 200 and len(page["frames"]) == STATUS_PAGE and page["more"]
    assert [f["frame"] for f in page["frames"]] == sorted(f["frame"] for f in page["frames"])


@pytest.mark.slow
def test_junk_camera_frames_cannot_lock_out_a_real_camera(plain, grace_hopper):
    import cv2

    for k in range(20):  # each refused, each with a fresh session id
        status = call(plain, f"/api/frame?session=junk-{k:05d}", "POST", body=b"x",
                      headers={"Content-Type": "image/jpeg"})[0]
        assert status == 415
    frame = cv2.imencode(".jpg", cv2.resize(grace_hopper, (320, 375)))[1].tobytes()
    status, _, body = call(plain, "/api/frame?session=real-visitor-1", "POST", body=frame,
                           headers={"Content-Type": "image/jpeg"})
    assert status == 200 and json.loads(body)["faces"]


@pytest.mark.slow
def test_another_site_cannot_embed_the_stream(plain):
    status, headers, body = call(plain, "/video_feed",
                                 headers={"Sec-Fetch-Site": "cross-site",
                                          "Sec-Fetch-Dest": "image"})
    assert status == 403 and "cross-site" in json.loads(body)["error"]
    status, headers, _ = call(plain, "/healthz")
    assert headers["cross-origin-resource-policy"] == "same-origin"
    assert "camera=(self)" in headers["permissions-policy"]
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["cross-origin-opener-policy"] == "same-origin"


@pytest.mark.slow
def test_allowed_host_on_a_real_server():
    """--allowed-host NAME: the server answers requests for NAME (a proxy's or a LAN
    name) beside its loopback names, and still refuses any other Host with 421."""
    with running_server("--allowed-host", "camera.local") as (url, _):
        port = port_of(url)
        assert call(port, "/api/sources", host="camera.local")[0] == 200
        assert call(port, "/api/sources", host="127.0.0.1")[0] == 200
        status, _, body = call(port, "/api/sources", host="attacker.example")
        assert status == 421 and "--allowed-host" in json.loads(body)["error"]
