"""The visitor's camera in headless Chromium (its fake camera playing a 640x480 clip of 1 or
4 real faces): frames/s the page analyses and ms per frame in the page (ONNX Runtime Web,
WASM, one thread) against the server mode on the same clip in the same run, the first
analysed frame after the camera starts (models in the browser's cache), and the server's
CPU while each mode runs.

    python bench/bench_browser.py [--seconds 15]
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, frame_with_faces

import cv2
import numpy as np
import psutil

sys.path.insert(0, str(ROOT))
from ferapp.system import INT8_DOT_PRODUCT_FLAGS, cpu_flags, cpu_name  # noqa: E402
from tests.e2e.pages import chromium, requests_sent, wait_for, write_y4m  # noqa: E402
from tests.helpers import running_server  # noqa: E402


def clip(path: Path, faces: int, frames: int = 90) -> Path:
    """A clip of the demo photo (1 or 4 faces) moving a little, as a webcam would show it."""
    base = frame_with_faces(faces)
    rng = np.random.default_rng(faces)
    out = []
    for k in range(frames):
        m = np.float32([[1, 0, 3 * np.sin(k / 9)], [0, 1, 2 * np.cos(k / 7)]])
        moved = cv2.warpAffine(base, m, (640, 480), borderMode=cv2.BORDER_REPLICATE)
        out.append(np.clip(moved + rng.normal(0, 3, moved.shape), 0, 255).astype(np.uint8))
    return write_y4m(path, out, fps=30)


def measure(driver, server_pid: int, seconds: float) -> dict:
    """Frames analysed per second, median ms per frame and the server's CPU share, over
    ``seconds`` of the page running."""
    proc = psutil.Process(server_pid)
    body = driver.find_element("tag name", "body")
    count = lambda: int(body.get_attribute("data-analysed") or 0)  # noqa: E731
    wait_for(lambda: count() >= 5, timeout=120)
    times, ms = proc.cpu_times(), []
    start_n, start_t = count(), time.monotonic()
    while time.monotonic() - start_t < seconds:
        time.sleep(0.25)
        text = driver.find_element("id", "rtt").text
        detail = driver.find_element("id", "rtt-detail").text
        if text.replace(".", "").isdigit():
            ms.append((float(text), detail))
    elapsed = time.monotonic() - start_t
    after = proc.cpu_times()
    cpu = (after.user + after.system - times.user - times.system) / elapsed
    return {"fps": (count() - start_n) / elapsed, "ms": statistics.median(m for m, _ in ms),
            "detail": ms[len(ms) // 2][1], "server_cpu": cpu}


def run_mode(url, pid, camera: Path, mode: str, seconds: float) -> dict:
    driver = chromium("--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                      f"--use-file-for-fake-video-capture={camera}")
    try:
        if mode == "browser":  # once to fill the cache, then the measured visit
            driver.get(url + "/#camera")
            wait_for(lambda: driver.find_element("tag name", "body")
                     .get_attribute("data-first-frame-ms"), timeout=180)
        driver.get(url + "/#camera")
        if mode == "server":
            wait_for(lambda: driver.find_element("id", "mode").text, timeout=60)
            driver.find_element("id", "camera-mode").send_keys("on the server")
        wanted = "analysed in this browser" if mode == "browser" else "analysed on the server"
        wait_for(lambda: driver.find_element("id", "mode").text == wanted, timeout=60)
        requests_sent(driver)
        result = measure(driver, pid, seconds)
        result["first_ms"] = int(driver.find_element("tag name", "body")
                                 .get_attribute("data-first-frame-ms") or 0)
        result["frames_sent"] = sum("/api/frame" in r["url"] for r in requests_sent(driver))
        return result
    finally:
        driver.quit()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=15.0)
    args = p.parse_args()
    dots = sorted(cpu_flags() & INT8_DOT_PRODUCT_FLAGS)
    print(f"{cpu_name()}; {psutil.cpu_count()} CPUs; int8 dot products: "
          f"{', '.join(dots) or 'none'}; headless Chromium, onnxruntime-web WASM, threads: "
          f"as many as the cores, at most the page's max_threads (cross-origin isolated)")
    rows = []
    with tempfile.TemporaryDirectory() as tmp, running_server() as (url, proc):
        for faces in (1, 4):
            camera = clip(Path(tmp) / f"faces{faces}.y4m", faces)
            for mode in ("browser", "server"):
                r = run_mode(url, proc.pid, camera, mode, args.seconds)
                rows.append((faces, mode, r))
    print(f"{'faces':>5} {'mode':<8} {'frames/s':>8} {'ms/frame':>8}  {'first frame':>11} "
          f"{'server CPU':>10} {'frames sent':>11}  detail")
    for faces, mode, r in rows:
        print(f"{faces:>5} {mode:<8} {r['fps']:>8.1f} {r['ms']:>8.0f}  {r['first_ms']:>9} ms "
              f"{max(0.0, r['server_cpu']):>9.0%} {r['frames_sent']:>11}  {r['detail']}")
    for faces in (1, 4):
        page = next(r for f, m, r in rows if f == faces and m == "browser")
        server = next(r for f, m, r in rows if f == faces and m == "server")
        print(f"{faces} face(s): in-page {page['fps'] / server['fps']:.2f}x the server mode's "
              f"frames/s, server CPU {max(0.0, page['server_cpu']):.0%} vs "
              f"{server['server_cpu']:.0%}")
    print("(targets, 2 cores: >= 20 frames/s with 1 face, >= 12 with 4; "
          "first frame within 3 s, warm cache; server CPU ~0 in the page's mode)")


if __name__ == "__main__":
    main()
