"""Load test on loopback: 16 viewers on /video_feed (joining and leaving) and a steady
stream of uploads to /api/predict, for a bounded time; then checks that the server's
threads return to their starting count and its memory stays within a bound. Two more
phases follow on the same server:

* big uploads: 8 concurrent 36-megapixel uploads of each format (JPEG, PNG, WebP, TIFF,
  HEIC) while one viewer watches; the server's peak memory (sampled every 20 ms) and the
  viewer's frame rate during the burst against its rate in the seconds before (same
  run); every answer must be 200 or 503 JSON (``--cores 16``: the server's upload
  threads as on a 16-core machine);
* hostile origins: every route with ``Host: attacker.example`` (421 expected) and a POST
  from a foreign ``Origin`` (403 expected); a same-origin POST must still work;
* attacks (attacks.py): 100 stream viewers that never read, 150 slowloris sockets, 100
  silent and 100 idle keep-alive sockets, each in turn, over HTTP and HTTPS: the median
  answer of /healthz, / and /api/predict while each holds must stay under 1 s; then 8
  clients polling /api/status?after=-1 back to back must leave the stream >= 90 % of its
  frames.

    python bench/load_test.py [--seconds 60] [--viewers 16] [--max-growth-mb 32]
                              [--big-uploads 8] [--formats JPEG,PNG,...] [--cores N]
                              [--max-peak-mb 500]

Exits 1 if any request failed (5xx or a broken connection), threads leaked, memory grew
beyond --max-growth-mb (default 32 MB: per-thread allocator caches after the first
uploads and up to 512 KB of buffered stream per viewer; a leak of one 0.9 MB decoded
photo per upload or of queued frames would pass it within a minute), the big uploads
took the server over --max-peak-mb or the stream under 90 % of its frames, or a hostile
request was served.
"""

import argparse
import http.client
import random
import threading
import time
import uuid

import attacks
from bench_server import Viewer, free_port, start_server, status, wait_ready
from common import BIG_FORMATS, big_photo

import psutil

from ferapp.vision.draw import encode_jpeg
from ferapp.vision.sources import demo_photo


def upload(port, body, boundary, headers=None, full=False):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("POST", "/api/predict", body=body,
                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}",
                              **(headers or {})})
        resp = conn.getresponse()
        payload = resp.read()
        return (resp.status, resp.getheader("Content-Type"), payload) if full else resp.status
    finally:
        conn.close()


def big_uploads(port, proc, n: int, fmt: str) -> dict:
    """n concurrent 36-megapixel uploads in ``fmt`` with one viewer watching: the server's
    peak memory, the stream's rate."""
    import concurrent.futures

    boundary = uuid.uuid4().hex
    body = multipart(big_photo(fmt), boundary)
    server = psutil.Process(proc.pid)
    stop, viewer_stop = threading.Event(), threading.Event()
    viewer = Viewer(port, viewer_stop)
    viewer.start()
    time.sleep(3)  # the stream is up
    f0, t0 = viewer.frames, time.monotonic()
    time.sleep(4)
    before = (viewer.frames - f0) / (time.monotonic() - t0)
    rss0 = server.memory_info().rss / 2**20
    peak = [rss0]

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], server.memory_info().rss / 2**20)
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    f1, t1 = viewer.frames, time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        answers = list(pool.map(lambda _: upload(port, body, boundary, full=True), range(n)))
    during = (viewer.frames - f1) / (time.monotonic() - t1)
    burst_s = time.monotonic() - t1
    stop.set()
    viewer_stop.set()
    sampler.join(5)
    viewer.join(5)
    codes = [a[0] for a in answers]
    json_ok = all((ct or "").startswith("application/json") for _, ct, _ in answers)
    return {"n": n, "format": fmt, "mb_each": len(body) / 2**20, "codes": codes, "json": json_ok,
            "rss0": rss0, "peak": peak[0], "before": before, "during": during,
            "seconds": burst_s}


def available_formats() -> list[str]:
    from ferapp.vision.intake import HEIF

    return [f for f in BIG_FORMATS if f != "HEIF" or HEIF]


def hostile(port, good, boundary) -> dict:
    """Foreign Host on every route, a foreign Origin on the upload, and a same-origin one."""
    refused, served = 0, []
    for method, path in (("GET", "/"), ("GET", "/video_feed"), ("GET", "/api/status"),
                         ("GET", "/healthz"), ("POST", "/api/predict"),
                         ("GET", "/static/js/main.js")):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request(method, path, headers={"Host": "attacker.example"})
            resp = conn.getresponse()
            resp.read(1024)
            if resp.status == 421:
                refused += 1
            else:
                served.append(path)
        finally:
            conn.close()
    origin = upload(port, good, boundary, {"Origin": "http://attacker.example"})
    fetch = upload(port, good, boundary, {"Sec-Fetch-Site": "cross-site"})
    same = upload(port, good, boundary, {"Origin": f"http://127.0.0.1:{port}",
                                         "Sec-Fetch-Site": "same-origin"})
    return {"host_refused": refused, "host_served": served, "origin": origin,
            "fetch_site": fetch, "same_origin": same}


def multipart(data: bytes, boundary: str) -> bytes:
    return (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; "
            f"filename=\"p.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n").encode() + data + \
        f"\r\n--{boundary}--\r\n".encode()


def settle(proc, port, seconds=8.0):
    """Wait until the capture thread has stopped (idle) and return (threads, RSS MB)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and status(port)["status"] == "live" and \
            status(port)["viewers"]:
        time.sleep(0.2)
    time.sleep(6.5)  # the camera's idle timeout is 5 s
    p = psutil.Process(proc.pid)
    return p.num_threads(), p.memory_info().rss / 2**20


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--viewers", type=int, default=16)
    ap.add_argument("--max-growth-mb", type=float, default=32)
    ap.add_argument("--no-uploads", action="store_true", help="viewers only")
    ap.add_argument("--big-uploads", type=int, default=8,
                    help="concurrent 36-megapixel uploads per format in the big-upload "
                         "phase (0: skip)")
    ap.add_argument("--formats", default=",".join(available_formats()),
                    help="the formats of the big-upload phase (default: %(default)s)")
    ap.add_argument("--cores", type=int, default=None,
                    help="run the server as if it had this many cores (its upload threads: "
                         "cores - 1; the decode budget does not depend on them)")
    ap.add_argument("--max-peak-mb", type=float, default=500)
    ap.add_argument("--no-attacks", action="store_true", help="skip the attack phases")
    args = ap.parse_args()
    port = free_port()
    env = {"FER_DECODE_SLOTS": str(max(1, args.cores - 1))} if args.cores else {}
    proc = start_server("demo", port, env=env)
    try:
        wait_ready(port, proc)
        boundary = uuid.uuid4().hex
        good = multipart(encode_jpeg(demo_photo(), 90), boundary)
        junk = multipart(b"this is not an image", boundary)
        # warm up once, then take the starting figures with the server idle again
        warm = threading.Event()
        v = Viewer(port, warm)
        v.start()
        upload(port, good, boundary)
        time.sleep(2)
        warm.set()
        v.join(5)
        threads0, rss0 = settle(proc, port)

        stop = threading.Event()
        counts = {"uploads": 0, "rejected_as_expected": 0, "errors": 0, "viewer_sessions": 0}
        lock = threading.Lock()

        def uploader():
            rng = random.Random(0)
            while not stop.is_set():
                bad = rng.random() < 0.2
                try:
                    code = upload(port, junk if bad else good, boundary)
                except OSError:
                    code = None
                with lock:
                    counts["uploads"] += 1
                    if code == 200 and not bad:
                        pass
                    elif bad and code is not None and 400 <= code < 500:
                        counts["rejected_as_expected"] += 1
                    else:
                        counts["errors"] += 1
                time.sleep(0.2)

        up = threading.Thread(target=uploader if not args.no_uploads else stop.wait,
                              daemon=True)
        up.start()
        active = []
        finished = []
        rng = random.Random(1)
        started = time.monotonic()

        def join():
            ev = threading.Event()
            viewer = Viewer(port, ev)
            viewer.began, viewer.ev = time.monotonic(), ev
            viewer.start()
            active.append(viewer)
            counts["viewer_sessions"] += 1

        for _ in range(args.viewers):
            join()
        samples = []
        server = psutil.Process(proc.pid)
        while time.monotonic() - started < args.seconds:
            time.sleep(2.0)
            samples.append(server.memory_info().rss / 2**20)
            if not active:
                continue
            leaving = active.pop(rng.randrange(len(active)))  # churn: one leaves, one joins
            leaving.ended = time.monotonic()
            leaving.ev.set()
            finished.append(leaving)
            join()
        for viewer in active:
            viewer.ended = time.monotonic()
            viewer.ev.set()
            finished.append(viewer)
        stop.set()
        up.join(30)
        for viewer in finished:
            viewer.join(5)
        rates = [v.frames / (v.ended - v.began) for v in finished if v.ended - v.began >= 4]
        broken = sum(1 for v in finished if v.frames == 0 and v.ended - v.began >= 2)
        counts["errors"] += broken
        threads1, rss1 = settle(proc, port)
        bigs = [big_uploads(port, proc, args.big_uploads, fmt)
                for fmt in args.formats.split(",")] if args.big_uploads else []
        hostile_result = hostile(port, good, boundary)
        withstood = attacks.run(port) if not args.no_attacks else True
        alive = proc.poll() is None
    finally:
        proc.terminate()
        proc.wait(10)
    growth = rss1 - rss0
    print(f"load: {args.seconds:.0f} s, {args.viewers} concurrent viewers "
          f"({counts['viewer_sessions']} sessions with churn), uploads every 0.2 s")
    print(f"requests served: {counts['uploads'] + counts['viewer_sessions']} "
          f"({counts['uploads']} uploads, of which {counts['rejected_as_expected']} junk "
          f"correctly refused with 4xx; {counts['viewer_sessions']} stream sessions)")
    print(f"errors: {counts['errors']}")
    if rates:
        print(f"frames/s per viewer: mean {sum(rates) / len(rates):.1f}, "
              f"min {min(rates):.1f} (demo source: 15 fps)")
    print(f"server memory: {rss0:.0f} MB at start, {rss1:.0f} MB at end "
          f"(growth {growth:+.0f} MB, bound {args.max_growth_mb:.0f} MB)")
    third = max(1, len(samples) // 3)
    print(f"server memory under load: mean {sum(samples[:third]) / third:.0f} MB in the "
          f"first third, {sum(samples[-third:]) / third:.0f} MB in the last third")
    print(f"server threads: {threads0} at start, {threads1} at end; server alive: {alive}")
    ok = counts["errors"] == 0 and threads1 == threads0 and growth < args.max_growth_mb and alive
    if bigs:
        slots = f"{args.cores - 1} upload threads ({args.cores} cores)" if args.cores else \
            "upload threads: cores - 1"
        print(f"big uploads: {args.big_uploads} concurrent 7200x5000 (36 MP) photos per "
              f"format, one viewer watching; {slots}")
    for big in bigs:
        share = big["during"] / big["before"] if big["before"] else 0.0
        print(f"  {big['format']:<5} {big['mb_each']:4.1f} MB each, {big['seconds']:5.1f} s: "
              f"{big['codes'].count(200)} x 200, {big['codes'].count(503)} x 503 (busy), "
              f"others {[c for c in big['codes'] if c not in (200, 503)]}, all JSON: "
              f"{big['json']}; memory {big['rss0']:.0f} MB before, peak {big['peak']:.0f} MB "
              f"(bound {args.max_peak_mb:.0f}); stream {big['during']:.1f} vs "
              f"{big['before']:.1f} frames/s = {share:.0%} (target >= 90%)")
        ok = ok and big["peak"] < args.max_peak_mb and share >= 0.9 and big["json"] and \
            set(big["codes"]) <= {200, 503} and 200 in big["codes"]
    h = hostile_result
    print(f"hostile: Host attacker.example refused (421) on {h['host_refused']} of 6 routes"
          + (f", SERVED {h['host_served']}" if h["host_served"] else "")
          + f"; upload with a foreign Origin -> {h['origin']}, with Sec-Fetch-Site cross-site "
          f"-> {h['fetch_site']}, same-origin -> {h['same_origin']}")
    ok = ok and not h["host_served"] and h["origin"] == 403 and h["fetch_site"] == 403 and \
        h["same_origin"] == 200 and withstood
    print("RESULT:", "PASS" if ok else "FAIL")
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
