"""The visitor's camera analysed in the visitor's browser: what the page needs to run the
server's own live step there, with ONNX Runtime Web on the same ONNX files.

    GET /api/inpage                     the live step as data (detector, crop, classifier,
                                        flip gate, tracking, smoothing, labels, the frame
                                        width) and the files' URLs; or why the page cannot
                                        run it: {"available": false, "reason": ...}
    GET /inpage/model/<digest>/<name>   the detector's and the classifier's ONNX bytes, as
                                        the server's sessions run them
    GET /inpage/ort/<version>/<file>    ONNX Runtime Web's WebAssembly build (node_modules,
                                        installed by ./run.sh from package-lock.json)

Every setting is read from the objects the server's own camera mode runs (the browser
sessions' StreamAnnotator, its pipeline, detector and model), never re-typed. The files
sit at URLs that carry their content's digest or the runtime's version, so they are
cached for good and a new model is a new URL; they are gzip-compressed when the browser
asks, and behind the token like every route.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import threading
from dataclasses import dataclass, field

from flask import Blueprint, Response, abort, jsonify, request, url_for

from ferapp.labels import EMOTIONS
from ferapp.system import REPO_ROOT
from ferapp.vision.boxes import NMS_CONTAINED, NMS_IOU
from ferapp.vision.classifier import INT8_NAME, ONNX_NAME
from ferapp.web.state import app_state

bp = Blueprint("inpage", __name__)

ORT_PACKAGE = REPO_ROOT / "node_modules" / "onnxruntime-web"
# the WebAssembly build only: no WebGPU/JSEP glue, which needs 'unsafe-eval'
ORT_FILES = {"ort.wasm.min.mjs": "text/javascript",
             "ort-wasm-simd-threaded.mjs": "text/javascript",
             "ort-wasm-simd-threaded.wasm": "application/wasm"}
FRAME_WIDTH = 640  # a visitor's camera frame is analysed at most this wide, in either mode
# WebAssembly threads the page's runtime may use (its cores permitting; one where the page
# is not cross-origin isolated)
MAX_THREADS = 4
IMMUTABLE = "public, max-age=31536000, immutable"


def pinned_ort_version() -> str:
    """The onnxruntime-web version package.json pins (the one the page is built for)."""
    return json.loads((REPO_ROOT / "package.json").read_text())["dependencies"][
        "onnxruntime-web"]


def installed_ort_version() -> str | None:
    try:
        return json.loads((ORT_PACKAGE / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None


@dataclass
class Files:
    """The bytes served at fingerprinted URLs, and their gzip copies (made once)."""

    models: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # digest -> name, bytes
    runtime: dict[tuple, bytes] = field(default_factory=dict)  # (version, name) -> bytes
    gzipped: dict[tuple, bytes] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def gz(self, key, data: bytes) -> bytes:
        with self.lock:
            if key not in self.gzipped:
                self.gzipped[key] = gzip.compress(data, 6, mtime=0)
            return self.gzipped[key]


def _files() -> Files:
    return app_state().inpage.setdefault("files", Files())


def _add_model(name: str, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()[:20]
    _files().models[digest] = (name, data)
    return url_for("inpage.model_file", digest=digest, name=name)


def live_step() -> tuple[dict | None, str | None]:
    """(the page's settings, None), or (None, why the page cannot run the live step)."""
    annotator = app_state().browser.make_annotator()  # what a server-mode camera runs
    pipeline = getattr(annotator.pipeline, "pipeline", annotator.pipeline)
    detector, model = pipeline.detector, pipeline.model
    if getattr(detector, "name", None) != "centerface":
        return None, (f"the server runs the {getattr(detector, 'name', '?')} detector; the "
                      "page runs CenterFace only")
    runtime = getattr(model, "runtime", None)
    if runtime not in ("int8", "onnx"):
        return None, ("the server's model is not one ONNX file (an ensemble or the Keras "
                      "runtime)")
    version, wanted = installed_ort_version(), pinned_ort_version()
    if version != wanted:
        return None, (f"ONNX Runtime Web {wanted} is not installed on the server (found "
                      f"{version or 'none'}): run ./run.sh once where npm is available")
    weights = model.weights_path.parent / (INT8_NAME if runtime == "int8" else ONNX_NAME)
    tracker = annotator.tracker
    return {
        "available": True,
        "runtime": {"module": url_for("inpage.ort_file", version=version,
                                      name="ort.wasm.min.mjs"),
                    "wasm_base": url_for("inpage.ort_file", version=version, name="x")[:-1],
                    "max_threads": MAX_THREADS},
        "frame_width": FRAME_WIDTH,
        "detector": {"url": _add_model("centerface.onnx", detector.model_bytes),
                     "input": "input.1", "outputs": ["537", "538", "539", "540"],
                     "width": detector.width, "threshold": detector.threshold,
                     "min_face": detector.min_face, "min_input": detector.min_input,
                     "nms_iou": NMS_IOU, "nms_contained": NMS_CONTAINED},
        "crop": {"margin": pipeline.margin, "align": pipeline.align},
        "classifier": {"url": _add_model(weights.name, weights.read_bytes()),
                       "runtime": runtime, "input": model.input_name,
                       "size": model.input_size, "labels": list(EMOTIONS),
                       "flip_below": model.flip_below if model.flip_tta else None},
        "tracking": {"min_iou": tracker.min_iou, "max_gap": tracker.max_gap,
                     "smooth_s": tracker.smooth_s, "hold": annotator.hold},
    }, None


@bp.get("/api/inpage")
def settings():
    """The live step as data for the page, made once (its files stay at their URLs)."""
    cache = app_state().inpage
    if "settings" not in cache:
        config, reason = live_step()
        cache["settings"] = config or {"available": False, "reason": reason,
                                       "frame_width": FRAME_WIDTH}
    resp = jsonify(cache["settings"])
    resp.headers["Cache-Control"] = "no-cache"
    return resp


def _send(data: bytes, mimetype: str, key) -> Response:
    headers = {"Cache-Control": IMMUTABLE, "Vary": "Accept-Encoding"}
    if "gzip" in request.headers.get("Accept-Encoding", ""):
        data = _files().gz(key, data)
        headers["Content-Encoding"] = "gzip"
    return Response(data, mimetype=mimetype, headers=headers)


@bp.get("/inpage/model/<digest>/<name>")
def model_file(digest: str, name: str):
    found = _files().models.get(digest)
    if found is None or found[0] != name:
        abort(404, "no such model file: GET /api/inpage names the current ones")
    return _send(found[1], "application/octet-stream", digest)


@bp.get("/inpage/ort/<version>/<name>")
def ort_file(version: str, name: str):
    if version != installed_ort_version() or name not in ORT_FILES:
        abort(404, "no such runtime file: GET /api/inpage names the current ones")
    files = _files()
    if (version, name) not in files.runtime:
        try:
            files.runtime[(version, name)] = (ORT_PACKAGE / "dist" / name).read_bytes()
        except OSError:
            abort(404, f"the runtime file {name} is missing on the server: run ./run.sh")
    return _send(files.runtime[(version, name)], ORT_FILES[name], (version, name))
