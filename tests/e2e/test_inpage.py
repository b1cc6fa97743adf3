"""The visitor's camera analysed in the page (issue 40), in headless Chromium with its fake
camera: faces and labels shown with no frame sent anywhere, the same answers as the
server's live step on the same frames, and the server mode when WebAssembly is missing."""

from __future__ import annotations

import base64

import cv2
import numpy as np
import pytest

from ferapp.vision.boxes import iou
from tests.e2e.pages import chromium, console_errors, requests_sent, wait_for
from tests.helpers import four_faces

pytestmark = pytest.mark.slow


def _faces(driver):
    import json

    return json.loads(driver.find_element("id", "overlay").get_attribute("data-faces") or "[]")


def test_in_page_mode_shows_the_faces_and_sends_no_frame(server, browser):
    url, _ = server
    requests_sent(browser)  # the log so far is another test's
    browser.get(url + "/#camera")
    wait_for(lambda: browser.find_element("id", "mode").text == "analysed in this browser",
             timeout=30)
    assert wait_for(lambda: _faces(browser), timeout=90) == ["neutral"] or _faces(browser)
    wait_for(lambda: float(browser.find_element("id", "fps").text.replace("–", "0")) > 0)
    notice = browser.find_element("id", "camera-notice")
    assert notice.is_displayed() and "no picture leaves this device" in notice.text
    assert browser.find_element("id", "rtt-label").text == "analysis"
    # cross-origin isolated (COOP + COEP): the runtime may use threads
    assert browser.execute_script("return crossOriginIsolated") is True
    assert not browser.find_element("id", "mode-message").is_displayed()
    sent = requests_sent(browser)
    assert any(r["url"].endswith("/api/inpage") for r in sent)
    assert not [r for r in sent if "/api/frame" in r["url"] or r["body"]
                or r["method"] != "GET"], sent
    assert not console_errors(browser)


PARITY_SCRIPT = """
const [frames, fps, done] = arguments;
(async () => {
  const { startWorker, analyzeFrame } = await import("/static/js/inbrowser.js");
  const config = await (await fetch("/api/inpage")).json();
  const worker = await startWorker(config);
  const out = [];
  for (let k = 0; k < frames.length; k += 1) {
    const bytes = Uint8Array.from(atob(frames[k]), (c) => c.charCodeAt(0));
    const bitmap = await createImageBitmap(new Blob([bytes], { type: "image/png" }),
      { colorSpaceConversion: "none", premultiplyAlpha: "none" });
    out.push(await analyzeFrame(worker, bitmap, k / fps, k + 1));
  }
  worker.terminate();
  done(out);
})().catch((err) => done({ error: String(err) }));
"""


def test_the_page_gives_the_servers_answers_on_the_same_frames(server, browser, shipped_model,
                                                                grace_hopper):
    """12 frames of four faces through the page's worker (ONNX Runtime Web) and through the
    server's live step (every frame detected, as the page does): box IoU >= 0.9 for >= 95 %
    of the faces, the same top label for >= 97 %, every score within 0.03."""
    from ferapp.vision.detect import make_detector
    from ferapp.vision.pipeline import ExpressionPipeline, LockedPipeline
    from ferapp.vision.stream import StreamAnnotator

    url, _ = server
    frames = [four_faces(grace_hopper, k) for k in range(12)]
    pngs = [base64.b64encode(cv2.imencode(".png", f)[1].tobytes()).decode() for f in frames]
    browser.get(url + "/")
    browser.set_script_timeout(180)
    page = browser.execute_async_script(PARITY_SCRIPT, pngs, 15)
    assert isinstance(page, list), page
    live = StreamAnnotator(LockedPipeline(ExpressionPipeline(shipped_model, make_detector())),
                           detect_every=1, smooth_s=1.0)
    served = [[r.to_dict() for r in live.track(f, t=k / 15)] for k, f in enumerate(frames)]
    pairs, boxes_ok, labels_ok = 0, 0, 0
    for mine, theirs in zip(page, served, strict=True):
        assert len(mine["faces"]) == len(theirs) == 4, (mine["faces"], theirs)
        for face in theirs:
            match = max(mine["faces"], key=lambda f: iou(f["box"], face["box"]))
            pairs += 1
            boxes_ok += iou(match["box"], face["box"]) >= 0.9
            labels_ok += match["emotion"] == face["emotion"]
            assert match["id"] == face["id"]
            for e, s in face["scores"].items():
                assert abs(match["scores"][e] - s) <= 0.03, (e, match["scores"], face["scores"])
    assert boxes_ok >= 0.95 * pairs and labels_ok >= 0.97 * pairs, (boxes_ok, labels_ok, pairs)
    assert not console_errors(browser)


def test_without_webassembly_the_server_mode_runs_and_says_why(server, fake_camera):
    driver = chromium("--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                      f"--use-file-for-fake-video-capture={fake_camera}")
    # a browser without WebAssembly (V8's --noexpose_wasm no longer reaches the page)
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument",
                           {"source": "delete globalThis.WebAssembly;"})
    try:
        url, _ = server
        driver.get(url + "/#camera")
        message = driver.find_element("id", "mode-message")
        wait_for(lambda: message.is_displayed() and message.text, timeout=30)
        assert "this browser does not run WebAssembly" in message.text
        assert driver.find_element("id", "mode").text == "analysed on the server"
        assert "sent to it" in driver.find_element("id", "camera-notice").text
        wait_for(lambda: _faces(driver), timeout=60)
        assert any("/api/frame" in r["url"] for r in requests_sent(driver))
        assert not console_errors(driver)
    finally:
        driver.quit()


@pytest.mark.parametrize("size", [(320, 240), (360, 640), (1920, 1080)])
def test_cameras_of_any_size_and_orientation_are_analysed_in_the_page(server, tmp_path,
                                                                       grace_hopper, size):
    """A small camera, a portrait phone and a full-HD one: the face found in the page."""
    from tests.e2e.pages import write_y4m

    w, h = size
    frame = np.full((h, w, 3), 60, np.uint8)
    side = min(w, h) * 3 // 4
    face = cv2.resize(grace_hopper, (side, round(side * 1.17)), interpolation=cv2.INTER_AREA)
    fh = min(face.shape[0], h)
    frame[(h - fh) // 2:(h - fh) // 2 + fh, (w - side) // 2:(w - side) // 2 + side] = face[:fh]
    camera = write_y4m(tmp_path / "camera.y4m", [frame] * 5)
    driver = chromium("--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                      f"--use-file-for-fake-video-capture={camera}")
    try:
        url, _ = server
        driver.get(url + "/#camera")
        wait_for(lambda: driver.find_element("id", "mode").text == "analysed in this browser",
                 timeout=60)
        assert len(wait_for(lambda: _faces(driver), timeout=120)) == 1
        shown = driver.execute_script("const v = document.getElementById('camera');"
                                      "return [v.videoWidth, v.videoHeight]")
        assert min(shown) > 0  # (Chromium fits the clip to the page's 640x480 request)
        assert not console_errors(driver)
    finally:
        driver.quit()
