"""main.py --export-static DIR: the page served by a plain static web server (Python's
http.server, as a university web space or GitHub Pages would) analyses the fake camera and
an uploaded photo in the page, with no app behind it (issue 40)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.e2e.pages import chromium, console_errors, requests_sent, wait_for
from tests.helpers import ROOT, bound_port

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    folder = tmp_path_factory.mktemp("site") / "page"
    proc = subprocess.run([sys.executable, "main.py", "--export-static", str(folder)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "wrote the page to" in proc.stdout
    server = subprocess.Popen([sys.executable, "-u", "-m", "http.server", "0", "--bind",
                               "127.0.0.1", "--directory", str(folder)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    port = bound_port(server, rb"Serving HTTP on \S+ port (\d+)", 30)
    yield f"http://127.0.0.1:{port}", folder
    server.terminate()
    server.wait(10)


def test_the_exported_page_analyses_the_camera_and_a_photo(site, fake_camera,
                                                          grace_hopper_path):
    url, folder = site
    driver = chromium("--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                      f"--use-file-for-fake-video-capture={fake_camera}")
    try:
        wait_for(lambda: driver.get(url + "/index.html#camera") or True, timeout=30)
        wait_for(lambda: driver.find_element("id", "mode").text == "analysed in this browser",
                 timeout=60)
        faces = wait_for(lambda: driver.find_element("id", "overlay").get_attribute(
            "data-faces") not in (None, "[]"), timeout=120)
        assert faces
        picker = [o.text for o in driver.find_elements("css selector", "#source-picker option")]
        assert picker == ["My camera"]  # no server, no server sources
        modes = [o.text for o in driver.find_elements("css selector", "#camera-mode option")]
        assert modes == ["in this browser"]
        driver.find_element("id", "upload-file").send_keys(str(grace_hopper_path))
        driver.find_element("css selector", "#upload-form button").click()
        message = driver.find_element("id", "upload-message")
        wait_for(lambda: "analysed in this browser" in message.text, timeout=120)
        assert message.text.startswith("1 face(s) in 512×600"), message.text
        assert driver.find_elements("css selector", "#upload-faces h3")
        assert driver.execute_script("return document.getElementById('upload-image')"
                                     ".src.startsWith('data:image/jpeg')")
        sent = requests_sent(driver)
        assert all(r["method"] == "GET" and not r["body"] for r in sent), sent
        assert not any("/api/" in r["url"] for r in sent), sent
        assert not console_errors(driver)
    finally:
        driver.quit()


def test_an_export_into_a_used_folder_is_one_line(tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    proc = subprocess.run([sys.executable, "main.py", "--export-static", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "is not an empty folder" in proc.stderr.splitlines()[-1]
    assert (tmp_path / "keep.txt").read_text() == "mine"
