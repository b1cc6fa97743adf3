"""JSON API: classify an uploaded photo, and the live results feed of the stream."""

from __future__ import annotations

import base64

from flask import Blueprint, Response, abort, current_app, jsonify, request

from ferapp.intake import InvalidImage, decode_image
from pipeline import FaceResult, draw_results, encode_jpeg

bp = Blueprint("api", __name__, url_prefix="/api")


def _upload_bytes() -> bytes:
    """The one uploaded file in the multipart field 'image', or a 4xx."""
    if not request.mimetype.startswith("multipart/form-data"):
        abort(415, "send multipart/form-data with the photo in the field 'image'")
    files = request.files.getlist("image")
    if not files:
        abort(400, "no file in the multipart field 'image'")
    if len(files) > 1:
        abort(400, "send exactly one file in the field 'image'")
    return files[0].read()


@bp.post("/predict")
def predict():
    """Classify every face of an uploaded photo: JSON, or the annotated JPEG (?annotate=1).

    ``?image=1`` adds the annotated JPEG to the JSON (base64, ``annotated_jpeg``): the page
    gets results and picture in one request, for every format it may upload.

    Boxes, width and height are those of the upright picture (EXIF orientation applied) at
    full size. At most DECODE_SLOTS uploads are decoded and analysed at once; the others
    wait up to DECODE_WAIT_S seconds, then get 503 with Retry-After.
    """
    data = _upload_bytes()
    fer = current_app.extensions["fer"]
    slots = fer["decode_slots"]
    if not slots.acquire(timeout=current_app.config["DECODE_WAIT_S"]):
        resp = jsonify(error="busy: too many photos are being analysed; retry in a moment")
        resp.status_code, resp.headers["Retry-After"] = 503, "2"
        return resp
    try:
        try:
            decoded = decode_image(data)
        except InvalidImage as exc:
            abort(exc.status, str(exc))
        del data
        with fer["lock"]:
            results = fer["pipeline"].analyze(decoded.image)
        annotated = None
        if _flag("annotate") or _flag("image"):
            annotated = encode_jpeg(draw_results(decoded.image, results), 90)
        if _flag("annotate"):
            return Response(annotated, mimetype="image/jpeg")
    finally:
        slots.release()
    faces = [FaceResult(decoded.to_full(r.box), r.scores).to_dict() for r in results]
    extra = {"annotated_jpeg": base64.b64encode(annotated).decode()} if annotated else {}
    return jsonify(faces=faces, width=decoded.width, height=decoded.height, **extra)


def _flag(name: str) -> bool:
    return request.args.get(name, "0").lower() in ("1", "true", "yes")


@bp.get("/status")
def status():
    """The latest analysed frame of the stream: faces, fps, source, viewers."""
    cam = current_app.extensions["fer"]["camera"]
    frame = cam.latest()
    return jsonify(
        source=cam.source.text,
        kind=cam.source.kind,
        fps=round(cam.fps, 1),
        viewers=cam.viewers,
        frames_analyzed=cam.frames_analyzed,
        frame=frame.number if frame else None,
        status=frame.status if frame else "idle",
        width=frame.width if frame else None,
        height=frame.height if frame else None,
        faces=[r.to_dict() for r in frame.faces] if frame else [],
    )
