"""The attack phases of load_test.py: what a handful of hostile connections does to the
page and the API (stream viewers that never read, slowloris, silent and idle sockets, over
HTTP and HTTPS; 100 viewers that do read, beyond the viewer cap), and what status pollers
cost the stream."""

from __future__ import annotations

import contextlib
import http.client
import os
import socket
import ssl
import statistics
import subprocess
import sys
import threading
import time

from bench_server import Viewer, free_port
from common import ROOT

TIMEOUT_S = 10.0
ATTACKS = (("stalled viewers", 100, b"GET /video_feed HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
           ("slowloris", 150, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-a: b\r\n"),
           ("silent sockets", 100, b""),
           ("idle keep-alive", 100, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"))


def timed(port, method, path, context=None, body=None, headers=None) -> float:
    """Seconds one request took to answer (TIMEOUT_S when it did not)."""
    cls = http.client.HTTPSConnection if context else http.client.HTTPConnection
    kw = {"context": context} if context else {}
    started = time.perf_counter()
    try:
        conn = cls("127.0.0.1", port, timeout=TIMEOUT_S, **kw)
        conn.request(method, path, body=body, headers={"Host": "localhost", **(headers or {})})
        conn.getresponse().read()
        conn.close()
    except (OSError, http.client.HTTPException):
        return TIMEOUT_S
    return time.perf_counter() - started


def photo_form() -> tuple[bytes, dict]:
    """A multipart upload of the real demo photo (one face)."""
    from ferapp.vision.draw import encode_jpeg
    from ferapp.vision.sources import demo_photo

    body = (b"--x\r\nContent-Disposition: form-data; name=\"image\"; filename=\"p.jpg\"\r\n"
            b"Content-Type: image/jpeg\r\n\r\n" + encode_jpeg(demo_photo(), 90) + b"\r\n--x--\r\n")
    return body, {"Content-Type": "multipart/form-data; boundary=x"}


def medians(port, context=None, n=5) -> dict:
    """Median answer time of /healthz, / and /api/predict with a real photo (its faces
    found and classified: the answer a user waits for)."""
    body, form = photo_form()
    calls = {"healthz": ("GET", "/healthz", None, None), "page": ("GET", "/", None, None),
             "predict": ("POST", "/api/predict", body, form)}
    return {name: statistics.median(timed(port, m, p, context, b, h) for _ in range(n))
            for name, (m, p, b, h) in calls.items()}


@contextlib.contextmanager
def sockets(port, n, first_bytes, context=None):
    """``n`` connections that send ``first_bytes`` (after a TLS handshake with ``context``;
    silent ones never start it) and then read nothing."""
    opened = []
    try:
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            if context is not None and first_bytes:
                s = context.wrap_socket(s, server_hostname="localhost")
            if first_bytes:
                s.sendall(first_bytes)
            opened.append(s)
        time.sleep(2)
        yield opened
    finally:
        for s in opened:
            s.close()


def crowd(port, n=100) -> dict:
    """``n`` viewers that do read the stream: how many are served, how many refused (503,
    MAX_VIEWERS), and the medians while they watch."""
    stop = threading.Event()
    viewers = [Viewer(port, stop) for _ in range(n)]
    for v in viewers:
        v.start()
    time.sleep(4)
    row = {"attack": f"{n} reading viewers", "n": n, **medians(port)}
    row["served"] = sum(v.frames > 0 for v in viewers)
    row["refused"] = sum(v.status == 503 for v in viewers)
    stop.set()
    for v in viewers:
        v.join(5)
    time.sleep(1)
    return row


def resilience(port, context=None) -> list[dict]:
    """Each attack in turn: the medians while it holds, and after it."""
    rows = [{"attack": "none", "n": 0, **medians(port, context)}]
    for name, n, first in ATTACKS:
        with sockets(port, n, first, context):
            rows.append({"attack": name, "n": n, **medians(port, context)})
        time.sleep(1)
    return rows


def pollers(port, n=8, seconds=6.0) -> tuple[float, float]:
    """A viewer's frames/s alone, then with ``n`` clients polling /api/status?after=-1
    (the whole history each time: the worst case) back to back."""
    stop = threading.Event()
    viewer = Viewer(port, stop)
    viewer.start()
    time.sleep(3)

    def rate():
        f0, t0 = viewer.frames, time.monotonic()
        time.sleep(seconds)
        return (viewer.frames - f0) / (time.monotonic() - t0)

    alone = rate()
    done = threading.Event()

    def poll():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT_S)
        while not done.is_set():
            conn.request("GET", "/api/status?after=-1")
            conn.getresponse().read()
        conn.close()

    threads = [threading.Thread(target=poll, daemon=True) for _ in range(n)]
    for t in threads:
        t.start()
    busy = rate()
    done.set()
    stop.set()
    for t in threads:
        t.join(TIMEOUT_S)
    viewer.join(5)
    return alone, busy


def tls_server(port, folder):
    """main.py over HTTPS with a throw-away CA's certificate; (process, client context)."""
    import trustme

    ca = trustme.CA()
    issued = ca.issue_cert("localhost", "127.0.0.1")
    cert, key = os.path.join(folder, "server.pem"), os.path.join(folder, "key.pem")
    issued.private_key_and_cert_chain_pem.write_to_path(cert)
    issued.private_key_pem.write_to_path(key)
    context = ssl.create_default_context()
    ca.configure_trust(context)
    context.check_hostname = False
    proc = subprocess.Popen([sys.executable, "main.py", "--source", "demo", "--port",
                             str(port), "--cert", cert, "--key", key], cwd=ROOT,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while timed(port, "GET", "/healthz", context) >= TIMEOUT_S:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the HTTPS server did not start")
    return proc, context


def report(rows, scheme) -> bool:
    """Print the rows; True when every median is under one second."""
    ok = True
    for r in rows:
        worst = max(r["healthz"], r["page"], r["predict"])
        ok = ok and worst < 1.0
        print(f"  {scheme:5} {r['attack']:16} {r['n']:4}: median /healthz "
              f"{r['healthz'] * 1000:6.1f} ms, / {r['page'] * 1000:6.1f} ms, /api/predict "
              f"(photo) {r['predict'] * 1000:6.1f} ms" + ("" if worst < 1.0 else "  (over 1 s)")
              + (f"; {r['served']} served, {r['refused']} refused (503)" if "served" in r
                 else ""))
    return ok


def run(port) -> bool:
    """Every attack phase, over HTTP on ``port`` and over HTTPS on a second server."""
    import tempfile

    print("attacks (target: median answer under 1 s while each holds):")
    crowded = crowd(port)
    ok = report(resilience(port) + [crowded], "http")
    ok = ok and crowded["served"] + crowded["refused"] == crowded["n"]
    with tempfile.TemporaryDirectory() as folder:
        tls_port = free_port()
        proc, context = tls_server(tls_port, folder)
        try:
            ok = report(resilience(tls_port, context), "https") and ok
        finally:
            proc.terminate()
            proc.wait(10)
    alone, busy = pollers(port)
    share = busy / alone if alone else 0.0
    print(f"status pollers: 8 clients polling /api/status?after=-1 back to back: stream "
          f"{busy:.1f} frames/s vs {alone:.1f} alone = {share:.0%} (target >= 90%)")
    return ok and share >= 0.9
