"""Fixtures of the browser tests: the real server, a fake camera's clip, headless Chromium."""

from __future__ import annotations

import os

import pytest

from tests.e2e.pages import CHROMEDRIVER, CHROMIUM, HEADLESS, write_y4m
from tests.helpers import running_server


@pytest.fixture(scope="module")
def server():
    """The real server on the demo source, on a port it picked and printed."""
    with running_server() as (url, proc):
        yield url, proc


@pytest.fixture(scope="module")
def fake_camera(tmp_path_factory, grace_hopper):
    """A webcam's view of a real face held still: the photo with sensor noise and jitter."""
    import cv2
    import numpy as np

    rng = np.random.default_rng(0)
    base = np.full((480, 640, 3), 50, np.uint8)
    face = cv2.resize(grace_hopper, (340, 400), interpolation=cv2.INTER_AREA)
    base[40:440, 150:490] = face
    frames = []
    for _ in range(30):
        m = np.float32([[1, 0, rng.uniform(-2, 2)], [0, 1, rng.uniform(-2, 2)]])
        moved = cv2.warpAffine(base, m, (640, 480), borderMode=cv2.BORDER_REPLICATE)
        frames.append(np.clip(moved + rng.normal(0, 4, moved.shape), 0, 255).astype(np.uint8))
    return write_y4m(tmp_path_factory.mktemp("camera") / "face.y4m", frames)


@pytest.fixture(scope="module")
def browser(fake_camera, tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.fail("install Debian's chromium and chromium-driver (./run.sh test does)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in (*HEADLESS,
                 # a camera that shows the clip above; permission granted without a prompt
                 "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                 f"--use-file-for-fake-video-capture={fake_camera}"):
        opts.add_argument(flag)
    # the console, and the DevTools network log (what the page sent, tests/e2e/test_inpage.py)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.downloads = tmp_path_factory.mktemp("downloads")
    driver.execute_cdp_cmd("Browser.setDownloadBehavior",
                           {"behavior": "allow", "downloadPath": str(driver.downloads)})
    yield driver
    driver.quit()
