"""JSON API: classify an uploaded photo or a frame of a visitor's camera, list the
sources, and the live results feed of each source's stream."""

from __future__ import annotations

import base64
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

from flask import Blueprint, Response, abort, current_app, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from ferapp.system import release_free_memory
from ferapp.vision.draw import draw_results, encode_jpeg
from ferapp.vision.intake import FORMAT_NAMES, InvalidImage, decode_image, probe
from ferapp.vision.pipeline import FaceResult
from ferapp.web.errors import retry_later
from ferapp.web.pacing import Busy
from ferapp.web.pages import camera_at
from ferapp.web.state import app_state
from ferapp.web.visitors import LiveError

bp = Blueprint("api", __name__, url_prefix="/api")


def _upload_file():
    """The one uploaded file in the multipart field 'image' (a binary file: in memory when
    small, else spooled to disk by the multipart parser), or a 4xx."""
    if not request.mimetype.startswith("multipart/form-data"):
        abort(415, "send multipart/form-data with the photo in the field 'image'")
    try:
        files = request.files.getlist("image")
    except RequestEntityTooLarge:  # werkzeug's words say nothing of the cause
        limit = request.max_content_length
        if limit is not None and (request.content_length or 0) > limit:
            abort(413, f"the upload is larger than {limit} bytes")
        abort(413, f"too many parts in the form (at most {request.max_form_parts}) or a text "
                   "field too large: send the photo alone in the field 'image'")
    if not files:
        abort(400, "no file in the multipart field 'image'")
    if len(files) > 1:
        abort(400, "send exactly one file in the field 'image'")
    return files[0].stream


def _admit(budget, header, cost: int, wait_s: float):
    """``budget.hold`` of ``cost`` bytes for the decode of ``header`` (the file's bytes
    included), or the 4xx/5xx answer: 413 when it could never fit, 503 + Retry-After when
    it ran out of wait."""
    if cost > budget.total:
        mb = budget.total / 2**20
        abort(413, f"this {header.stored[0]}x{header.stored[1]} {FORMAT_NAMES[header.format]} "
                   f"would need {cost / 2**20:.0f} MB to decode and analyse; this server "
                   f"decodes within {mb:.0f} MB: send a smaller image (a JPEG costs least)")
    return budget.hold(cost, wait_s)


@bp.post("/predict")
def predict():
    """Classify every face of an uploaded photo: JSON, or the annotated JPEG (?annotate=1).

    ``?image=1`` adds the annotated JPEG to the JSON (base64, ``annotated_jpeg``): the page
    gets results and picture in one request, for every format it may upload.

    Boxes, width and height are those of the upright picture (EXIF orientation applied) at
    full size. The header is read first (from the spooled upload, no pixel decoded); the
    upload then holds its cost (its decode's or its analysis', whichever is more) of the
    server's DECODE_BUDGET_MB while it is decoded and analysed on one of the DECODE_SLOTS
    threads. Uploads that would pass the budget wait
    their turn up to DECODE_WAIT_S seconds, then get 503 with Retry-After.
    """
    upload = _upload_file()
    try:
        header = probe(upload)
    except InvalidImage as exc:
        abort(exc.status, str(exc))
    nbytes = upload.seek(0, 2)
    state = app_state()
    draw = _flag("annotate") or _flag("image")

    def work():
        decoded = decode_image(header=header)
        results = state.stills.analyze(decoded.image)
        annotated = encode_jpeg(draw_results(decoded.image, results), 90) if draw else None
        meta = replace(decoded, image=None)  # the pixels are not needed any more
        del decoded
        release_free_memory()
        return meta, results, annotated

    # the decode's peak, or the analysis' after it (the image, the detector's buffers)
    cost = max(header.cost, state.stills.still_cost(*header.decoded)) + nbytes
    with _admit(state.decode_budget, header, cost,
                current_app.config["DECODE_WAIT_S"]) as admitted:
        if not admitted:
            return retry_later("busy: too many photos are being analysed; retry in a moment",
                               503, 2)
        try:
            # on the DECODE_SLOTS upload threads, not on any of the server's 48: only they
            # ever hold decoder and runtime buffers
            decoded, results, annotated = state.workers.submit(work).result()
        except InvalidImage as exc:
            abort(exc.status, str(exc))
    if _flag("annotate"):
        return Response(annotated, mimetype="image/jpeg")
    faces = [FaceResult(decoded.to_full(r.box), r.scores).to_dict() for r in results]
    extra = {"annotated_jpeg": base64.b64encode(annotated).decode()} if annotated else {}
    return jsonify(faces=faces, width=decoded.width, height=decoded.height, **extra)


def _flag(name: str) -> bool:
    return request.args.get(name, "0").lower() in ("1", "true", "yes")


def source_name(source) -> str:
    """A display name that shows no directory, credentials or query of the source."""
    if source.kind == "webcam":
        return f"webcam {source.target}"
    if source.kind == "url":
        parts = urlsplit(source.text)
        return f"{parts.scheme}://{parts.hostname or ''}" + (f":{parts.port}" if parts.port
                                                             else "")
    if source.kind in ("file", "image"):
        return Path(source.text).name
    return source.text


@bp.get("/sources")
def sources():
    """The sources the server was started with, by index (the page picks by index only)."""
    cams = app_state().cameras
    return jsonify(sources=[{"index": i, "kind": c.source.kind, "name": source_name(c.source)}
                            for i, c in enumerate(cams)])


def _int_arg(name: str, default=None, minimum: int = 0):
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        abort(400, f"'{name}' must be an integer")
    if value < minimum:
        abort(400, f"'{name}' must be at least {minimum}")
    return value


STATUS_PAGE = 120  # frames per /api/status answer (4 s at 30 frames/s)


@bp.get("/status")
def status():
    """Source ``?source=i``'s latest analysed frame: faces, fps, viewers.

    With ``?after=N``, also ``frames``: the analysed frames numbered after N, oldest first
    (of the last two minutes; ``after=-1``: from the oldest), with their unix time and
    faces, at most STATUS_PAGE (``?limit=`` asks for fewer); ``next`` is the ``after`` of
    the next request and ``more`` says whether frames are already waiting for it.

    Each client address is answered at most every STATUS_INTERVAL_S (an earlier request
    waits its turn; one that would wait over a second gets 429): clients polling as fast
    as they can cost the stream nothing visible (bench/load_test.py)."""
    cam = camera_at(_int_arg("source", 0))
    try:
        app_state().status_pacer.wait_turn(request.remote_addr or "")
    except Busy as exc:
        return retry_later(str(exc), 429, exc.retry_after)
    frame = cam.latest()
    after = _int_arg("after", None, minimum=-1)
    extra = {}
    if after is not None:
        limit = min(_int_arg("limit", STATUS_PAGE, minimum=1), STATUS_PAGE)
        page = cam.results_since(after, limit + 1)
        frames = [{"frame": n, "t": round(t, 3), "faces": faces}
                  for n, t, faces in page[:limit]]
        extra = {"frames": frames, "next": frames[-1]["frame"] if frames else after,
                 "more": len(page) > limit}
    return jsonify(
        source=source_name(cam.source),
        kind=cam.source.kind,
        fps=round(cam.fps, 1),
        viewers=cam.viewers,
        frames_analyzed=cam.frames_analyzed,
        frame=frame.number if frame else None,
        status=frame.status if frame else "idle",
        width=frame.width if frame else None,
        height=frame.height if frame else None,
        faces=[r.to_dict() for r in frame.faces] if frame else [],
        **extra,
    )


FRAME_TYPES = ("image/jpeg", "image/png", "image/webp")
FRAME_FORMATS = frozenset({"JPEG", "MPO", "PNG", "WEBP"})  # what the bytes are, decoded


@bp.post("/frame")
def frame():
    """Analyse one frame of the visitor's camera (``?session=ID``, one per browser tab).

    The body is the frame itself (image/jpeg, image/png or image/webp, at most
    LIVE_MAX_BYTES; the format is checked on the bytes, whatever the declared type). Its
    decode holds its cost of the decode budget, waiting up to LIVE_WAIT_S (then 503).
    Faces are tracked and smoothed per session, like the stream's. A session sends its next
    frame after this one's answer: a frame sent while the previous one is analysed, or
    faster than LIVE_MAX_FPS, is dropped with 429. Nothing is stored.
    """
    cfg = current_app.config
    if request.mimetype not in FRAME_TYPES:
        abort(415, "send the frame as the request body with Content-Type image/jpeg, "
                   "image/png or image/webp")
    limit = cfg["LIVE_MAX_BYTES"]
    too_big = (f"a camera frame may be at most {limit // 1024} KiB: send a smaller or more "
               "compressed image")
    if (request.content_length or 0) > limit:
        abort(413, too_big)
    data = request.stream.read(limit + 1)  # bounded, also without a Content-Length
    if len(data) > limit:
        abort(413, too_big)
    if not data:
        abort(400, "the request body is empty: send one camera frame")

    try:
        header = probe(data, cfg["LIVE_MAX_PIXELS"], None, FRAME_FORMATS)
    except InvalidImage as exc:
        abort(exc.status, str(exc))
    size = {}

    def decode():
        try:
            image = decode_image(header=header).image
        except InvalidImage as exc:
            raise LiveError(exc.status, str(exc)) from None
        size.update(width=image.shape[1], height=image.shape[0])
        return image

    state = app_state()
    with _admit(state.decode_budget, header, header.cost + len(data),
                cfg["LIVE_WAIT_S"]) as admitted:
        if not admitted:
            return retry_later("busy: the server is decoding other images; send the next "
                               "frame in a moment", 503, 1)
        try:
            results, number, ms = state.browser.analyze(
                request.args.get("session", ""), decode, request.remote_addr or "")
        except LiveError as exc:
            abort(exc.status, str(exc))
    return jsonify(frame=number, ms=round(ms, 1), **size,
                   faces=[r.to_dict() for r in results])
