"""ferapp.web.inpage: the in-page mode's settings come from the objects the server's own
camera mode runs; its files are the server's bytes at fingerprinted URLs, with the right
types, cached for good, compressed, behind the token; and it says why when it cannot run."""

from __future__ import annotations

import gzip
import hashlib

import pytest

from ferapp.labels import EMOTIONS
from ferapp.vision.detect import CenterFaceDetector
from ferapp.web import inpage
from tests.helpers import demo_app

TOKEN = "t0ken-for-the-tests-0123456789"


@pytest.fixture(scope="module")
def real(shipped_model):
    with demo_app(shipped_model) as app:
        yield app


def test_the_settings_are_the_servers_live_step(real):
    client = real.test_client()
    resp = client.get("/api/inpage")
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-cache"
    cfg = resp.get_json()
    annotator = real.extensions["fer"].browser.make_annotator()
    pipeline = annotator.pipeline.pipeline
    det, model = pipeline.detector, pipeline.model
    assert cfg["available"] is True
    assert cfg["detector"] | {"url": None} == {
        "url": None, "input": "input.1", "outputs": ["537", "538", "539", "540"],
        "width": det.width, "threshold": det.threshold, "min_face": det.min_face,
        "min_input": det.min_input, "nms_iou": 0.4, "nms_contained": 0.7}
    assert cfg["crop"] == {"margin": pipeline.margin, "align": pipeline.align}
    assert cfg["classifier"]["flip_below"] == model.flip_below == 0.55
    assert cfg["classifier"]["labels"] == list(EMOTIONS)
    assert cfg["classifier"]["input"] == model.input_name == "face"
    assert cfg["tracking"] == {"min_iou": annotator.tracker.min_iou,
                               "max_gap": annotator.tracker.max_gap,
                               "smooth_s": annotator.tracker.smooth_s, "hold": annotator.hold}
    # the files are the bytes the server's sessions run, at URLs that carry their digest
    served = client.get(cfg["classifier"]["url"])
    int8 = (model.weights_path.parent / "model.int8.onnx").read_bytes()
    assert served.data == int8
    assert hashlib.sha256(int8).hexdigest()[:20] in cfg["classifier"]["url"]
    assert client.get(cfg["detector"]["url"]).data == det.model_bytes


def test_files_have_their_types_are_cached_for_good_and_compressed(real):
    client = real.test_client()
    cfg = client.get("/api/inpage").get_json()
    cases = [(cfg["runtime"]["module"], "text/javascript"),
             (cfg["runtime"]["wasm_base"] + "ort-wasm-simd-threaded.mjs", "text/javascript"),
             (cfg["runtime"]["wasm_base"] + "ort-wasm-simd-threaded.wasm", "application/wasm"),
             (cfg["detector"]["url"], "application/octet-stream")]
    for url, mimetype in cases:
        plain = client.get(url)
        assert plain.status_code == 200 and plain.mimetype == mimetype, url
        assert plain.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert "Content-Encoding" not in plain.headers
        packed = client.get(url, headers={"Accept-Encoding": "gzip, br"})
        assert packed.headers["Content-Encoding"] == "gzip"
        assert gzip.decompress(packed.data) == plain.data and len(packed.data) < len(plain.data)
    version = inpage.installed_ort_version()
    for url in (f"/inpage/ort/{version}/ort.all.min.mjs", "/inpage/ort/0.0.1/ort.wasm.min.mjs",
                f"/inpage/ort/{version}/../../package.json", "/inpage/model/0123/centerface.onnx",
                cfg["detector"]["url"].replace("centerface", "other")):
        resp = client.get(url)
        assert resp.status_code == 404 and resp.is_json, url


def test_the_csp_lets_webassembly_and_a_worker_run_and_nothing_else():
    from ferapp.web.guards import CSP

    script = next(d for d in CSP.split("; ") if d.startswith("script-src"))
    assert script == "script-src 'self' 'wasm-unsafe-eval'"
    assert "worker-src 'self'" in CSP and "'unsafe-eval'" not in CSP
    assert "'unsafe-inline'" not in CSP and "http" not in CSP


def test_the_files_need_the_token(shipped_model):
    with demo_app(shipped_model, {"TOKEN": TOKEN}) as app:
        client = app.test_client()
        assert client.get("/api/inpage").status_code == 401
        cfg = client.get("/api/inpage", headers={"Authorization": f"Bearer {TOKEN}"}).get_json()
        for url in (cfg["detector"]["url"], cfg["classifier"]["url"], cfg["runtime"]["module"],
                    cfg["runtime"]["wasm_base"] + "ort-wasm-simd-threaded.wasm"):
            assert client.get(url).status_code == 401, url
            assert client.get(url, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


@pytest.mark.parametrize("change, reason", [
    ("haar", "the server runs the haar detector"),
    ("keras", "not one ONNX file"),
    ("runtime", "ONNX Runtime Web"),
])
def test_what_the_page_cannot_run_is_said(shipped_model, monkeypatch, change, reason):
    config = {"DETECTOR": "haar"} if change == "haar" else {}
    if change == "keras":
        monkeypatch.setattr(shipped_model, "runtime", "keras")
    if change == "runtime":
        monkeypatch.setattr(inpage, "ORT_PACKAGE", inpage.REPO_ROOT / "no-such-folder")
    with demo_app(shipped_model, config) as app:
        cfg = app.test_client().get("/api/inpage").get_json()
    assert cfg["available"] is False and reason in cfg["reason"], cfg
    assert cfg["frame_width"] == inpage.FRAME_WIDTH


def test_the_detector_keeps_the_bytes_its_session_runs():
    det = CenterFaceDetector()
    import onnx

    model = onnx.load_from_string(det.model_bytes)
    assert [i.name for i in model.graph.input] == ["input.1"]
