"""The real servers: waitress by default, Flask's on request, the TLS front for HTTPS; bounded big
uploads."""

from __future__ import annotations

import concurrent.futures
import http.client
import json
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


class PeakMemory:
    """The resident size of a process, sampled every 20 ms between start() and stop()."""

    def __init__(self, pid):
        self.process = psutil.Process(pid)
        self.base = self.peak = self.process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.02)

    def __enter__(self):
        self.base = self.peak = self.process.memory_info().rss
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(5)


BUDGET_MB = 256  # the default DECODE_BUDGET_MB


@pytest.mark.slow
def test_big_uploads_of_every_format_stay_within_the_decode_budget():
    """36-megapixel photos of each format, one alone then 4 at once, to a server that thinks
    it has 16 cores (15 decode threads): its memory grows by no more than the decode budget,
    whatever the format; every answer is 200 or 503 JSON, the faces are found."""
    import sys

    from ferapp.vision.intake import HEIF

    sys.path.insert(0, "bench")
    from common import BIG_FORMATS, big_photo

    formats = [f for f in BIG_FORMATS if f != "HEIF" or HEIF]
    with running_server(env={"FER_DECODE_SLOTS": "15", "FER_DECODE_WAIT_S": "20"}) as (
            url, proc):
        small, ctype = _multipart(encode(Image.new("RGB", (640, 480), (90, 90, 90)), "JPEG"))
        assert request(url, "POST", "/api/predict", small, {"Content-Type": ctype})[0] == 200
        for fmt in formats:
            body, ctype = _multipart(big_photo(fmt), f"big.{fmt.lower()}")
            sent = {"Content-Type": ctype}
            for n in (1, 4):
                with PeakMemory(proc.pid) as memory, \
                        concurrent.futures.ThreadPoolExecutor(n) as pool:
                    results = list(pool.map(
                        lambda _, b=body, h=sent: request(url, "POST", "/api/predict", b, h),
                        range(n)))
                statuses = [s for s, _, _ in results]
                assert set(statuses) <= {200, 503} and 200 in statuses, (fmt, n, results)
                for status, headers, payload in results:
                    assert headers["Content-Type"] == "application/json"
                    if status == 200:
                        answer = json.loads(payload)
                        assert (answer["width"], answer["height"]) == (7200, 5000)
                        assert len(answer["faces"]) == 1, (fmt, answer)
                grown = (memory.peak - memory.base) / 2**20
                assert grown <= BUDGET_MB, (fmt, n, memory.base / 2**20, grown)
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
