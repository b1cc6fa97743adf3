"""End to end in headless Chromium: the real server, the real model, the demo source."""

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from ferapp.labels import EMOTIONS, css_color
from tests.e2e.pages import CHROMEDRIVER, CHROMIUM, wait_for
from tests.helpers import ROOT, bound_port, running_server

pytestmark = pytest.mark.slow




def test_server_listens_on_loopback_only(server):
    import psutil

    _, proc = server
    listening = [c.laddr for c in psutil.Process(proc.pid).net_connections("inet")
                 if c.status == psutil.CONN_LISTEN]
    assert listening and all(addr.ip == "127.0.0.1" for addr in listening)


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
    # the labels and colours are the server's one definition (ferapp.labels), not re-typed
    legend = browser.execute_script(
        "return [...document.querySelectorAll('#legend span')]"
        ".map(s => [s.textContent, s.style.getPropertyValue('--c')])")
    assert legend == [[e, css_color(e)] for e in EMOTIONS]
    # the README's picture of the page: this page, as it is now (FER_SCREENSHOT=docs/page.png)
    browser.set_window_size(1280, 1500)  # the stream, the panel and the upload at once
    browser.execute_script("window.scrollTo(0, 0)")
    wait_for(lambda: browser.execute_script(  # the timelines drawn
        "return document.querySelectorAll('#timelines figure').length") > 0)
    shot = browser.get_screenshot_as_png()
    browser.set_window_size(1280, 900)
    assert shot.startswith(b"\x89PNG") and len(shot) > 50_000  # a rendered page, not a blank one
    (tmp_path / "page.png").write_bytes(shot)
    if os.environ.get("FER_SCREENSHOT"):
        Path(os.environ["FER_SCREENSHOT"]).write_bytes(shot)

    # a file that is not an image gives a readable error on the page
    junk = tmp_path / "notes.txt"
    junk.write_text("not a photo")
    browser.find_element(By.ID, "upload-file").send_keys(str(junk))
    browser.find_element(By.CSS_SELECTOR, "#upload-form button").click()
    message = browser.find_element(By.ID, "upload-message")
    wait_for(lambda: "Could not analyse" in message.text)
    assert "not an image we can read: send PNG, JPEG" in message.text
    # one over the upload limit is refused in the page, before it is sent
    big = tmp_path / "huge.jpg"
    big.write_bytes(b"\xff\xd8" + b"\0" * (11 * 2**20))
    browser.find_element(By.ID, "upload-file").send_keys(str(big))
    browser.find_element(By.CSS_SELECTOR, "#upload-form button").click()
    wait_for(lambda: "the server takes photos up to 10 MB" in message.text)

    # the page works under its Content-Security-Policy: nothing was blocked
    log = browser.get_log("browser")
    errors = [e for e in log
              if e["level"] == "SEVERE" and "Content Security Policy" in e["message"]]
    assert errors == []
    # and every module of the page's script loaded and ran: the only console error is the
    # refused upload's 415
    severe = [e for e in log if e["level"] == "SEVERE" and "/api/predict" not in e["message"]]
    assert severe == []


def _start(port):
    """The server on ``port`` (0: one it picks); (process, the port it bound)."""
    proc = subprocess.Popen([sys.executable, "main.py", "--source", "demo", "--port", str(port)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    port = bound_port(proc, rb"Serving .* at http://[^ ]*:(\d+)/", 90)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
            return proc, port
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise AssertionError("server did not start")


def test_page_recovers_after_a_server_restart(browser):
    from selenium.webdriver.common.by import By

    proc, port = _start(0)
    try:
        browser.get(f"http://127.0.0.1:{port}/")
        state = browser.find_element(By.ID, "state")
        wait_for(lambda: state.text == "live")
        proc.terminate()
        proc.wait(10)
        wait_for(lambda: "reconnecting" in state.text)
        proc, _ = _start(port)  # the same port again: the page reconnects to it
        wait_for(lambda: state.text == "live", timeout=60)
        stream = browser.find_element(By.ID, "stream")
        first = stream.screenshot_as_png
        wait_for(lambda: stream.screenshot_as_png != first, timeout=15)  # frames flow again
    finally:
        proc.terminate()
        proc.wait(10)


def download(browser, link, pattern):
    """Click a download link; return the saved file (Chromium's download folder)."""
    before = set(browser.downloads.glob(pattern))
    link.click()
    return wait_for(lambda: next((p for p in set(browser.downloads.glob(pattern)) - before
                                  if p.stat().st_size > 0), None), timeout=15)


def record(browser, rows):
    """Start recording, wait ``seconds`` (or until ``rows`` face rows), stop."""
    from selenium.webdriver.common.by import By

    button = browser.find_element(By.ID, "record")
    button.click()
    status = browser.find_element(By.ID, "record-status")
    wait_for(lambda: (m := __import__("re").search(r"(\d+) face rows", status.text))
             and int(m.group(1)) >= rows, timeout=60)
    button.click()
    wait_for(lambda: status.text.startswith("Recorded"))
    links = browser.find_elements(By.CSS_SELECTOR, "#downloads a")
    assert [a.text.split("-")[0] for a in links] == ["faces", "summary"]
    return links


def test_my_camera_labels_the_face_over_the_video_and_records_steady_labels(server, browser):
    """The browser's own camera (Chromium's fake device playing a still real face): a box
    and label over the video within seconds, bars that match, and steady labels."""
    import json

    import pandas as pd
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    from ferapp.labels import FACE_COLUMNS as COLUMNS

    url, _ = server
    browser.get(url + "/")
    Select(wait_for(lambda: browser.find_element(By.ID, "source-picker"))).select_by_value(
        "camera")
    video = browser.find_element(By.ID, "camera")
    wait_for(lambda: browser.execute_script("return arguments[0].videoWidth", video) == 640)
    overlay = browser.find_element(By.ID, "overlay")
    labels = wait_for(lambda: json.loads(overlay.get_attribute("data-faces") or "[]"),
                      timeout=90)  # in this browser: the models load first
    assert len(labels) == 1 and labels[0] in COLUMNS
    # the panel is redrawn with every answer: read it and the overlay in one go
    panel, top, drawn_labels = browser.execute_script(
        "const f = document.querySelector('#faces .face');"
        "return [f.dataset.emotion, f.querySelector('.bar.top').dataset.emotion,"
        "        JSON.parse(document.getElementById('overlay').dataset.faces)];")
    assert panel == top  # the panel's label is its top bar
    assert drawn_labels == [top]  # and the label drawn over the video
    # the overlay holds a drawn box: some pixels of the canvas are not transparent
    drawn = browser.execute_script(
        "const c = arguments[0]; const d = c.getContext('2d')"
        ".getImageData(0, 0, c.width, c.height).data;"
        "let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n;", overlay)
    assert drawn > 500
    assert float(browser.find_element(By.ID, "rtt").text) > 0
    wait_for(lambda: float(browser.find_element(By.ID, "fps").text.replace("–", "0")) > 0)
    assert browser.find_elements(By.CSS_SELECTOR, "#timelines figure canvas")

    # record 60 answered frames of the still face: a CSV with analyze.py's columns, and
    # at most 2 label changes (the smoothing keeps a still face's label steady)
    faces_link, summary_link = record(browser, rows=60)
    df = pd.read_csv(download(browser, faces_link, "faces-*.csv"))
    assert list(df.columns) == list(COLUMNS) and len(df) >= 60
    assert df["face_id"].nunique() == 1
    changes = int((df["emotion"] != df["emotion"].shift()).sum()) - 1
    assert changes <= 2, df["emotion"].tolist()
    summary = pd.read_csv(download(browser, summary_link, "summary-*.csv"))
    shares = summary.filter(like="share_").sum(axis=1)
    assert len(summary) == 1 and abs(float(shares.iloc[0]) - 1) < 0.01


def test_switch_sources_and_record_a_server_source(browser, grace_hopper_path):
    import pandas as pd
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    from ferapp.labels import FACE_COLUMNS as COLUMNS

    with running_server("--source", str(grace_hopper_path)) as (url, _):
        browser.get(url + "/")
        picker = Select(browser.find_element(By.ID, "source-picker"))
        wait_for(lambda: len(picker.options) == 3)
        assert [o.text for o in picker.options] == [
            "demo (demo)", "grace_hopper.jpg (image)", "My camera"]
        stream = browser.find_element(By.ID, "stream")
        natural = "return arguments[0].naturalWidth"
        wait_for(lambda: browser.execute_script(natural, stream) == 640)  # the demo
        picker.select_by_value("1")
        wait_for(lambda: browser.execute_script(natural, stream) == 512)  # the photo
        wait_for(lambda: browser.find_element(By.ID, "source").text == "grace_hopper.jpg")
        assert browser.current_url.endswith("#source-1")
        faces_link, summary_link = record(browser, rows=10)
        df = pd.read_csv(download(browser, faces_link, "faces-*.csv"))
        assert list(df.columns) == list(COLUMNS)
        assert len(df) >= 10 and df["face_id"].notna().all()
        assert df["time_s"].is_monotonic_increasing and df["time_s"].max() > 0
        summary = pd.read_csv(download(browser, summary_link, "summary-*.csv"))
        assert len(summary) == df["face_id"].nunique()
        # back to the demo: its frames flow again
        picker.select_by_value("0")
        wait_for(lambda: browser.execute_script(natural, stream) == 640)


def test_no_camera_or_denied_permission_is_said_in_the_page(server):
    """A browser with no camera and no permission: a clear message, no stuck page."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--no-first-run", "--deny-permission-prompts"):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    try:
        url, _ = server
        driver.get(url + "/")
        Select(wait_for(lambda: driver.find_element(By.ID, "source-picker"))).select_by_value(
            "camera")
        message = driver.find_element(By.ID, "camera-message")
        wait_for(lambda: message.is_displayed() and message.text)
        assert ("Camera permission was denied" in message.text
                or "No camera was found" in message.text), message.text
        assert driver.find_element(By.ID, "state").text == "no camera"
        # and the server's sources still work from the same page
        Select(driver.find_element(By.ID, "source-picker")).select_by_value("0")
        stream = driver.find_element(By.ID, "stream")
        wait_for(lambda: driver.execute_script("return arguments[0].naturalWidth", stream))
        assert not message.is_displayed()
    finally:
        driver.quit()


def test_the_token_url_opens_the_page_and_the_stream_plays(browser):
    """``--host 0.0.0.0``: the page needs the token. The start-up URL opens it (the token
    leaves the address bar), the stream plays and the scores arrive on the cookie; a link
    to the page from another site works too (the SameSite=Strict cookie comes with the
    page's own reload); another browser profile without the cookie gets the token page."""
    from selenium.webdriver.common.by import By

    from tests.helpers import running_server

    token = "browser-token-0123456789abcdef"
    with running_server("--host", "0.0.0.0", "--token", token) as (url, _):
        browser.delete_all_cookies()
        browser.get(url + "/")
        assert browser.find_element(By.NAME, "token")  # the 401 page asks for it
        browser.get(f"{url}/?token={token}")
        wait_for(lambda: browser.current_url.split("#")[0] == url + "/")  # token gone
        stream = browser.find_element(By.ID, "stream")
        wait_for(lambda: browser.execute_script("return arguments[0].naturalWidth",
                                                stream) == 640)
        wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#faces .face .bar"))
        assert browser.find_element(By.ID, "state").text == "live"
        cookies = {c["name"]: c for c in browser.get_cookies()}
        assert cookies["fer_session"]["httpOnly"] and \
            cookies["fer_session"]["sameSite"] == "Strict"
        # a link followed from another site (here a data: page, an opaque origin)
        browser.get("data:text/html,<a id=go href='" + url + "/'>the camera</a>")
        browser.find_element(By.ID, "go").click()
        wait_for(lambda: browser.find_elements(By.ID, "stream"), timeout=15)
        browser.get(url + "/healthz")  # leave the page, so its polling has stopped
        browser.delete_all_cookies()
        browser.get(url + "/")
        assert browser.find_elements(By.NAME, "token") and \
            not browser.find_elements(By.ID, "stream")
