"""The real servers: waitress by default, Flask's on request, the TLS front for HTTPS; bounded big
uploads."""

from __future__ import annotations

import concurrent.futures
import http.client
import threading
import time
import urllib.parse

import psutil
import pytest
from PIL import Image

from tests.helpers import encode, running_server


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
        for status, headers, _payload in results:
            assert headers["Content-Type"] == "application/json"
            if status == 503:
                assert headers["Retry-After"] == "2"
        # one 6000x6000 RGB image alone is 108 MB: decoding is bounded and reduced
        assert peak[0] - base < 300 * 2**20, (base / 2**20, peak[0] / 2**20)
        assert request(url, "GET", "/healthz")[0] == 200


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


@pytest.mark.slow
def test_https_with_cert_and_key(tmp_path):
    """--cert/--key: the app over TLS (the asyncio front), same JSON API and headers; plain HTTP to
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
