"""End to end in headless Chromium: the real server, the real model, the demo source."""

import os
import subprocess
import sys
import time
import urllib.request

import pytest

from conftest import ROOT, free_port

pytestmark = pytest.mark.slow

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


@pytest.fixture(scope="module")
def server():
    port = free_port()
    proc = subprocess.Popen([sys.executable, "main.py", "--source", "demo", "--port", str(port)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url + "/healthz", timeout=2)
            break
        except OSError:
            assert proc.poll() is None, proc.stdout.read().decode()
            time.sleep(0.3)
    yield url, proc
    proc.terminate()
    proc.wait(10)


def test_server_listens_on_loopback_only(server):
    import psutil

    _, proc = server
    listening = [c.laddr for c in psutil.Process(proc.pid).net_connections("inet")
                 if c.status == psutil.CONN_LISTEN]
    assert listening and all(addr.ip == "127.0.0.1" for addr in listening)


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.fail("install Debian's chromium and chromium-driver (./run.sh test does)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--window-size=1280,900"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    yield driver
    driver.quit()


def wait_for(condition, timeout=30, interval=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("timed out waiting for the page")


def test_page_streams_scores_and_upload(server, browser, grace_hopper_path, tmp_path):
    from selenium.webdriver.common.by import By

    server, _ = server
    browser.get(server + "/")
    stream = browser.find_element(By.ID, "stream")
    # the MJPEG stream renders, at its natural 4:3 aspect ratio
    wait_for(lambda: browser.execute_script("return arguments[0].naturalWidth", stream) == 640)
    w, h = stream.size["width"], stream.size["height"]
    assert abs(w / h - 640 / 480) < 0.02
    # and it changes: two screenshots of the stream differ
    first = stream.screenshot_as_png
    wait_for(lambda: stream.screenshot_as_png != first, timeout=10)
    # live probability bars for the face in the demo video
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#faces .face .bar"))
    bars = browser.find_elements(By.CSS_SELECTOR, "#faces .face .bar")
    assert len(bars) % 7 == 0
    fps = wait_for(lambda: float(browser.find_element(By.ID, "fps").text.replace("–", "0")))
    assert fps > 0
    assert browser.find_element(By.ID, "source").text == "demo"

    # upload a photo: the annotated image and its scores appear
    browser.find_element(By.ID, "upload-file").send_keys(str(grace_hopper_path))
    browser.find_element(By.CSS_SELECTOR, "#upload-form button").click()
    image = browser.find_element(By.ID, "upload-image")
    wait_for(lambda: image.is_displayed() and browser.execute_script(
        "return arguments[0].naturalWidth", image) == 512)
    heading = wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#upload-faces h3"))
    assert heading[0].text.startswith("Face 1:")
    assert "1 face(s) in 512×600" in browser.find_element(By.ID, "upload-message").text

    # a file that is not an image gives a readable error on the page
    junk = tmp_path / "notes.txt"
    junk.write_text("not a photo")
    browser.find_element(By.ID, "upload-file").send_keys(str(junk))
    browser.find_element(By.CSS_SELECTOR, "#upload-form button").click()
    message = browser.find_element(By.ID, "upload-message")
    wait_for(lambda: "Could not analyse" in message.text)
    assert "not an image we can read: send PNG, JPEG" in message.text

    # the page works under its Content-Security-Policy: nothing was blocked
    errors = [e for e in browser.get_log("browser")
              if e["level"] == "SEVERE" and "Content Security Policy" in e["message"]]
    assert errors == []
    browser.save_screenshot(str(tmp_path / "page.png"))
    if os.environ.get("FER_SCREENSHOT"):
        browser.save_screenshot(os.environ["FER_SCREENSHOT"])


def _start(port):
    proc = subprocess.Popen([sys.executable, "main.py", "--source", "demo", "--port", str(port)],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
            return proc
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise AssertionError("server did not start")


def test_page_recovers_after_a_server_restart(browser):
    from selenium.webdriver.common.by import By

    port = free_port()
    proc = _start(port)
    try:
        browser.get(f"http://127.0.0.1:{port}/")
        state = browser.find_element(By.ID, "state")
        wait_for(lambda: state.text == "live")
        proc.terminate()
        proc.wait(10)
        wait_for(lambda: "reconnecting" in state.text)
        proc = _start(port)
        wait_for(lambda: state.text == "live", timeout=60)
        stream = browser.find_element(By.ID, "stream")
        assert "t=" in stream.get_attribute("src")  # a new stream connection was opened
        first = stream.screenshot_as_png
        wait_for(lambda: stream.screenshot_as_png != first, timeout=15)  # frames flow again
    finally:
        proc.terminate()
        proc.wait(10)
