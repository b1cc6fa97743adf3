"""The real servers: waitress by default, Flask's on request, the TLS front for HTTPS; bounded big
uploads."""

from __future__ import annotations

import concurrent.futures
import contextlib
import http.client
import json
import threading
import time
import urllib.parse

import psutil
import pytest
from PIL import Image

from tests.helpers import encode, running_server, tls_certificate


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
    it has 16 cores (15 decode threads): its memory never passes its size at start plus the
    decode budget (the decodes and analyses in flight; nothing of a still's detector
    buffers stays behind), whatever the format; every answer is 200 or 503 JSON, the faces
    are found."""
    import sys

    from ferapp.vision.intake import HEIF

    sys.path.insert(0, "bench")
    from common import BIG_FORMATS, big_photo

    formats = [f for f in BIG_FORMATS if f != "HEIF" or HEIF]
    with running_server(env={"FER_DECODE_SLOTS": "15", "FER_DECODE_WAIT_S": "20"}) as (
            url, proc):
        idle = psutil.Process(proc.pid).memory_info().rss
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
                grown = (memory.peak - idle) / 2**20
                assert grown <= BUDGET_MB, (fmt, n, idle / 2**20, memory.base / 2**20, grown)
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
        # refused on its headers (tests below): the answer comes before the body is sent
        port = int(url.rsplit(":", 1)[1])
        status, head, payload = _raw(port, (
            f"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: "
            f"multipart/form-data; boundary=x\r\nContent-Length: {11 * 2**20}\r\n\r\n"
            ).encode())
        assert status == 413 and b"application/json" in head and b"at most" in payload
        assert request(url, "GET", "/healthz")[0] == 200
    output = proc.startup_output.decode() + proc.stdout.read().decode()
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
    import urllib.request

    cert, key, ctx = tls_certificate(tmp_path)
    args = ("--cert", cert, "--key", key)
    with running_server(*args, scheme="https", ssl_context=ctx) as (url, proc):
        assert url.startswith("https://")
        with urllib.request.urlopen(url + "/api/sources", context=ctx, timeout=10) as r:
            assert r.status == 200 and r.headers["Server"] == "fer-app"
            assert r.headers["Content-Security-Policy"]
        with urllib.request.urlopen(url + "/", context=ctx, timeout=10) as r:
            assert b"source-picker" in r.read()
        with pytest.raises(urllib.error.HTTPError) as missing_page:
            urllib.request.urlopen(url + "/api/nothing", context=ctx, timeout=10)
        assert missing_page.value.code == 404
        assert missing_page.value.headers["Content-Type"] == "application/json"
        with pytest.raises(OSError):  # not served in clear text
            urllib.request.urlopen(url.replace("https", "http") + "/", timeout=5).read()
        assert proc.poll() is None


def _spooled_bytes(pid: int, folder) -> int:
    """Bytes of the files (deleted ones included) the process holds open under ``folder``."""
    import os

    total = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith(str(folder)):
                total += os.stat(f"/proc/{pid}/fd/{fd}").st_size
        except OSError:
            pass
    return total


@pytest.mark.slow
def test_bodies_over_a_routes_limit_are_refused_before_they_are_spooled(tmp_path):
    """/api/frame takes 2 MiB: a 30 MiB body (under the server-wide 40 MiB) is refused (413
    JSON) as soon as its headers arrive, "Expect: 100-continue" gets the 413 instead of
    "100 Continue", a chunked body is cut off once it passes the limit; 100 such connections
    at once leave the server's spool (its temporary files) near empty, and a body within
    the limit is still taken."""
    import socket

    spool = tmp_path / "spool"
    spool.mkdir()
    with running_server(env={"TMPDIR": str(spool)}) as (url, proc):
        port = int(url.rsplit(":", 1)[1])

        def send(headers: str, body: bytes = b"") -> socket.socket:
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.sendall(f"POST /api/frame?session=spool-test-1 HTTP/1.1\r\nHost: 127.0.0.1:{port}"
                      f"\r\nContent-Type: image/jpeg\r\n{headers}\r\n".encode() + body)
            return s

        def answer(s: socket.socket) -> bytes:
            got = b""
            while b"\r\n\r\n" not in got or not got.rstrip().endswith(b"}"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
            return got

        with send("Content-Length: 31457280\r\nExpect: 100-continue\r\n") as s:
            got = answer(s)
        assert got.startswith(b"HTTP/1.1 413") and b"100 Continue" not in got, got[:200]
        assert b"application/json" in got and b"at most 2097152 bytes" in got
        # chunked: no length declared; cut off past the limit
        chunk = b"%x\r\n" % 65536 + b"\0" * 65536 + b"\r\n"
        with send("Transfer-Encoding: chunked\r\n") as s:
            with contextlib.suppress(OSError):
                for _ in range(64):  # 4 MiB if it kept reading
                    s.sendall(chunk)
            assert answer(s).startswith(b"HTTP/1.1 413")
        # 100 connections declaring 30 MiB: each is answered on its headers, then sends
        # its first MiB all the same
        socks, codes = [], []
        try:
            for _ in range(100):
                socks.append(send("Content-Length: 31457280\r\n"))
                codes.append(answer(socks[-1])[:12])
            for s in socks:
                with contextlib.suppress(OSError):
                    s.sendall(b"\0" * 2**20)
            held = _spooled_bytes(proc.pid, spool)
        finally:
            for s in socks:
                s.close()
        assert codes == [b"HTTP/1.1 413"] * 100
        assert held < 8 * 2**20, held  # without the check: ~100 MiB spooled by now
        ok = request(url, "POST", "/api/frame?session=spool-test-2",
                     encode(Image.new("RGB", (320, 240), (80, 80, 80)), "JPEG"),
                     {"Content-Type": "image/jpeg"})
        assert ok[0] == 200, ok


def _raw(port: int, data: bytes) -> tuple[int, bytes, bytes]:
    """Send raw bytes, return (status, header block, body) of the answer."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data)
        got = b""
        while b"\r\n\r\n" not in got or not got.rstrip().endswith((b"}", b">")):
            try:
                chunk = s.recv(65536)
            except OSError:
                break
            if not chunk:
                break
            got += chunk
    head, _, body = got.partition(b"\r\n\r\n")
    parts = head.split(b" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[0].startswith(b"HTTP/") else 0
    return status, head, body


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["waitress", "flask"])
def test_every_server_mode_answers_its_own_errors_as_json(mode):
    """What the HTTP servers answer before the app sees a request (a request line or header
    block too long, too many headers, an unknown HTTP version, a garbled request line), a
    body over the route's limit, and a request with two Host headers: a status line, JSON,
    no server version, in both server modes."""
    with running_server("--server", mode) as (url, _):
        port = int(url.rsplit(":", 1)[1])
        host = f"Host: 127.0.0.1:{port}\r\n".encode()
        cases = [
            (b"GET /?" + b"a" * 70000 + b" HTTP/1.1\r\n" + host + b"\r\n", (414, 431)),
            (b"GET /healthz HTTP/1.1\r\n" + host
             + b"".join(b"X-P%d: %s\r\n" % (i, b"x" * 100) for i in range(150)) + b"\r\n",
             (431,)),
            (b"GET /healthz HTTP/1.1\r\n" + host
             + b"".join(b"X-P%d: %s\r\n" % (i, b"x" * 4000) for i in range(20)) + b"\r\n",
             (431,)),
            (b"GET /healthz HTTP/9.9\r\n" + host + b"\r\n", (505,)),
            (b"GARBAGE\r\n\r\n", (400,)),
            (b"GET /healthz HTTP/1.1\r\n" + host + host + b"\r\n", (400,)),
            (b"GET /healthz HTTP/1.1\r\n" + host + b"Host: attacker.example\r\n\r\n", (400,)),
            (b"POST /api/frame?session=limits-1 HTTP/1.1\r\n" + host
             + b"Content-Type: image/jpeg\r\nContent-Length: 3000000\r\n\r\n", (413,)),
        ]
        for data, expected in cases:
            status, head, body = _raw(port, data)
            assert status in expected, (mode, data[:60], head[:200])
            assert b"content-type: application/json" in head.lower(), (mode, head)
            assert json.loads(body)["error"]
            assert b"Werkzeug" not in head and b"Python" not in head and b"waitress" not in head
            assert b"x-content-type-options: nosniff" in head.lower(), (mode, head)
            assert b"content-security-policy: default-src 'self'" in head.lower(), (mode, head)
        assert request(url, "GET", "/healthz")[0] == 200
