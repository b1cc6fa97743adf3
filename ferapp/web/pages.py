"""The page, each source's annotated MJPEG stream, and the liveness check."""

from __future__ import annotations

import contextlib

from flask import Blueprint, Response, abort, current_app, jsonify, render_template

from ferapp.labels import EMOTIONS, FACE_COLUMNS, css_color
from ferapp.system import release_free_memory
from ferapp.web.errors import retry_later
from ferapp.web.state import app_state

bp = Blueprint("pages", __name__)
BOUNDARY = b"frame"
TIMELINE_S = 60  # seconds of scores the page's timelines show
# how the page is served (static/js/site.js): by this app, its settings asked at /api/inpage
SERVED = {"static": False, "settings": "/api/inpage"}


def page_labels() -> dict:
    """What the page's script needs to know of the labels (one definition, in Python)."""
    return {"emotions": list(EMOTIONS), "colors": {e: css_color(e) for e in EMOTIONS},
            "columns": list(FACE_COLUMNS), "timeline_s": TIMELINE_S}


def camera_at(index: int):
    """The VideoCamera of source ``index``, or a 404 that says where the list is."""
    cams = app_state().cameras
    if not 0 <= index < len(cams):
        abort(404, f"no source {index}: GET /api/sources lists the {len(cams)} source(s)")
    return cams[index]


@bp.get("/")
def index():
    """The page: source picker, stream or own camera, live scores, timelines, upload."""
    return render_template("index.html", labels=page_labels(), site=SERVED,
                           max_upload_bytes=current_app.config["MAX_CONTENT_LENGTH"])


def mjpeg_parts(frames):
    """multipart/x-mixed-replace parts of JPEG frames."""
    for frame in frames:
        yield (b"--" + BOUNDARY + b"\r\nContent-Type: image/jpeg\r\n"
               b"Content-Length: " + str(len(frame.jpeg)).encode()
               + b"\r\n\r\n" + frame.jpeg + b"\r\n")


@bp.get("/video_feed")
@bp.get("/video_feed/<int:index>")
def video_feed(index: int = 0):
    """Source ``index``'s annotated stream as multipart/x-mixed-replace JPEG frames.

    Each viewer holds one of the server's threads while it watches: beyond MAX_VIEWERS at
    once, the next gets 503 (JSON, Retry-After) and the threads left serve the page and
    the API."""
    cam = camera_at(index)
    slots = app_state().viewer_slots
    if not slots.acquire(blocking=False):
        return retry_later(f"too many viewers: {current_app.config['MAX_VIEWERS']} streams "
                           "are being watched; retry when one closes", 503, 5)
    released = []

    def release():
        if not released:  # once, whether the stream ran or was closed unstarted
            released.append(True)
            slots.release()

    def parts():
        try:
            with contextlib.closing(cam.frames()) as frames:
                yield from mjpeg_parts(frames)
        finally:
            release_free_memory()  # the viewer's buffers are gone

    mimetype = f"multipart/x-mixed-replace; boundary={BOUNDARY.decode()}"
    resp = Response(parts(), mimetype=mimetype, headers={"Cache-Control": "no-store"})
    resp.call_on_close(release)
    return resp


@bp.get("/healthz")
def healthz():
    """Liveness: the model is loaded and the server answers."""
    state = app_state()
    return jsonify(status="ok", runtime=getattr(state.model, "runtime", "unknown"),
                   flip_tta=getattr(state.model, "flip_tta", None),
                   streaming=state.cameras[0].running)
