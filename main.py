"""The Flask app: an annotated MJPEG stream, a status feed and an upload API.

    python main.py [--source 0|demo|FILE|URL ...] [--host 127.0.0.1] [--port 5000]
                   [--cert CERT.pem --key KEY.pem]
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import socket
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

from flask import Flask, Response, jsonify, render_template
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

CSP = ("default-src 'self'; img-src 'self' blob: data:; style-src 'self'; "
       "script-src 'self'; connect-src 'self'; media-src 'self' blob: mediastream:; "
       "object-src 'none'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'")
BOUNDARY = b"frame"


def create_app(config: dict | None = None, *, model=None, camera=None,
               cameras=None) -> Flask:
    """Build the app around a model and its VideoCameras (real ones unless given).

    ``config["SOURCES"]`` lists the sources the page can pick from (``SOURCE``: just one);
    ``camera`` / ``cameras`` replace them with ready VideoCameras (tests).
    """
    import api
    from camera import VideoCamera, resolve_source
    from ferapp import security
    from ferapp.live import BrowserSessions, LockedPipeline
    from ferapp.tracking import DEFAULT_SMOOTH_S, StreamAnnotator
    from pipeline import ExpressionPipeline

    app = Flask(__name__)
    app.json.sort_keys = False  # keep scores in the canonical label order
    app.config.from_mapping(
        MAX_CONTENT_LENGTH=10 * 1024 * 1024,  # upload limit: 10 MiB
        SOURCE=None,
        SOURCES=None,  # several sources to pick from in the page (default: [SOURCE])
        LOOP=True,
        SMOOTH_S=DEFAULT_SMOOTH_S,  # seconds of scores averaged per face
        LIVE_MAX_SESSIONS=8,  # browser cameras analysed at once
        LIVE_MAX_FPS=30.0,  # per browser camera
        LIVE_MAX_BYTES=2 * 1024 * 1024,  # one browser camera frame
        LIVE_MAX_PIXELS=1920 * 1920,
        DETECTOR="centerface",
        DETECT_EVERY=1,  # run the detector on every k-th stream frame (bench_pipeline.py)
        DECODE_SLOTS=decode_slots(),
        DECODE_WAIT_S=10.0,  # an upload waits this long for a slot, then gets 503
    )
    app.config.from_prefixed_env("FER")
    if config:
        app.config.update(config)
    if camera is not None:
        cameras = [camera]
    sources = None
    if cameras is None:  # before the model: fail fast on a source that does not open
        sources = []
        for text in app.config["SOURCES"] or [app.config["SOURCE"]]:
            source = resolve_source(text)
            if source not in sources:
                sources.append(source)
    from ferapp.detect import make_detector

    detector_name = app.config["DETECTOR"]
    api_detector = make_detector(detector_name)  # before the model: fail fast
    if model is None:
        from model import default_model

        model = default_model()
    # one live pipeline for every stream and browser camera (calls are serialised)
    live = LockedPipeline(ExpressionPipeline(model, make_detector(detector_name)))

    def annotator():
        return StreamAnnotator(live, detect_every=app.config["DETECT_EVERY"],
                               smooth_s=app.config["SMOOTH_S"])

    if cameras is None:
        cameras = [VideoCamera(s, annotator(), loop=app.config["LOOP"]) for s in sources]
    app.extensions["fer"] = {
        "model": model,
        "camera": cameras[0],
        "cameras": list(cameras),
        # frames from visitors' own cameras: one tracked, smoothed state per browser tab
        "browser": BrowserSessions(annotator, app.config["LIVE_MAX_SESSIONS"],
                                   max_fps=app.config["LIVE_MAX_FPS"]),
        # the API's own detector, used under a lock; uploads are searched as stills
        "pipeline": ExpressionPipeline(model, api_detector, still=True),
        "lock": threading.Lock(),
        # at most this many uploads are decoded and analysed at once (bench/load_test.py),
        # on as many worker threads
        "decode_slots": threading.BoundedSemaphore(app.config["DECODE_SLOTS"]),
        "workers": ThreadPoolExecutor(app.config["DECODE_SLOTS"], "upload"),
    }
    security.install(app)
    app.register_blueprint(api.bp)
    _register_pages(app)
    _register_errors(app)

    @app.after_request
    def security_headers(resp):
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Content-Security-Policy"] = CSP
        resp.headers["Referrer-Policy"] = "no-referrer"
        resp.headers["X-Frame-Options"] = "DENY"
        return resp

    return app


def decode_slots() -> int:
    """Concurrent upload decodes: one core stays free for the live stream."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) - 1)


def _register_pages(app: Flask):
    import api

    @app.get("/")
    def index():
        """The page: source picker, stream or own camera, live scores, timelines, upload."""
        return render_template("index.html")

    @app.get("/video_feed")
    @app.get("/video_feed/<int:index>")
    def video_feed(index: int = 0):
        """Source ``index``'s annotated stream as multipart/x-mixed-replace JPEG frames."""
        cam = api.camera_at(index)

        def parts():
            from ferapp.onnxrt import release_free_memory

            try:
                with contextlib.closing(cam.frames()) as frames:
                    for frame in frames:
                        yield (b"--" + BOUNDARY + b"\r\nContent-Type: image/jpeg\r\n"
                               b"Content-Length: " + str(len(frame.jpeg)).encode()
                               + b"\r\n\r\n" + frame.jpeg + b"\r\n")
            finally:
                release_free_memory()  # the viewer's buffers are gone

        mimetype = f"multipart/x-mixed-replace; boundary={BOUNDARY.decode()}"
        return Response(parts(), mimetype=mimetype, headers={"Cache-Control": "no-store"})

    @app.get("/healthz")
    def healthz():
        """Liveness: the model is loaded and the server answers."""
        fer = app.extensions["fer"]
        return jsonify(status="ok", runtime=getattr(fer["model"], "runtime", "unknown"),
                       flip_tta=getattr(fer["model"], "flip_tta", None),
                       streaming=fer["camera"].running)


def _register_errors(app: Flask):
    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        return jsonify(error=exc.description or exc.name), exc.code

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("unhandled error")
        return jsonify(error="internal error; see the server log"), 500


def port_in_use(host: str, port: int) -> bool:
    """True when something already listens on host:port."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def limit_malloc_arenas(arenas: int = 2):
    """Cap glibc's per-thread malloc arenas: with dozens of server threads each keeps its
    own freed memory and the footprint creeps up (bench/load_test.py measures it)."""
    import ctypes

    try:
        ctypes.CDLL("libc.so.6").mallopt(-8, arenas)  # M_ARENA_MAX
    except (OSError, AttributeError):
        pass  # not glibc


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="Live facial-expression recognition in the browser.")
    p.add_argument("--source", action="append", default=None,
                   help="webcam index (0), video file, image, rtsp/http URL or 'demo'; "
                        "repeat it to offer several sources in the page (default: "
                        "$FER_SOURCE, else webcam 0, else demo)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind; 0.0.0.0 exposes the camera to the network (and "
                        "accepts the machine's own names in the Host header)")
    p.add_argument("--allowed-host", action="append", default=[], metavar="NAME",
                   help="also answer requests for this host name (repeatable); by default "
                        "only localhost, 127.0.0.1 and [::1]")
    p.add_argument("--port", type=int, default=5000)
    p.add_argument("--no-loop", action="store_true", help="stop a video file at its end")
    p.add_argument("--detector", choices=("centerface", "yunet", "haar"), default="centerface",
                   help="face detector (haar needs no extra package)")
    p.add_argument("--detect-every", type=int, default=1, metavar="K",
                   help="stream: detect faces on every K-th frame, reuse the boxes between")
    p.add_argument("--smooth", type=float, default=None, metavar="SECONDS",
                   help="average each face's scores over this many seconds (default: "
                        "1, chosen by bench/bench_smoothing.py; 0: off)")
    p.add_argument("--server", choices=("waitress", "flask"), default="waitress",
                   help="waitress (production WSGI server, the default) or Flask's own "
                        "development server; with --cert/--key: cheroot")
    p.add_argument("--cert", default=None, metavar="PEM",
                   help="TLS certificate (chain) file: serve HTTPS, which browsers require "
                        "to share a camera with a page on another machine")
    p.add_argument("--key", default=None, metavar="PEM", help="the certificate's private key")
    return p.parse_args(argv)


def main(argv=None) -> int:
    from camera import quiet_native_logs

    args = parse_args(argv)
    quiet_native_logs()
    limit_malloc_arenas()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    from camera import SourceError
    from ferapp.detect import DetectorUnavailable
    from model import ModelLoadError

    if bool(args.cert) != bool(args.key):
        print("main.py: error: --cert and --key go together", file=sys.stderr)
        return 2
    for path in filter(None, (args.cert, args.key)):
        if not os.path.isfile(path):
            print(f"main.py: error: {path} does not exist", file=sys.stderr)
            return 2
    if args.smooth is not None and args.smooth < 0:
        print("main.py: error: --smooth must be at least 0", file=sys.stderr)
        return 2
    if port_in_use(args.host, args.port):
        print(f"main.py: error: port {args.port} on {args.host} is in use; "
              "stop the other server or pass --port", file=sys.stderr)
        return 2
    from ferapp.security import allowed_hosts

    try:
        extra = {} if args.smooth is None else {"SMOOTH_S": args.smooth}
        app = create_app({"SOURCES": args.source, "LOOP": not args.no_loop, **extra,
                          "DETECTOR": args.detector, "DETECT_EVERY": max(1, args.detect_every),
                          "ALLOWED_HOSTS": allowed_hosts(args.host, args.allowed_host)})
    except (SourceError, ModelLoadError, DetectorUnavailable) as exc:
        print(f"main.py: error: {exc}", file=sys.stderr)
        return 2
    cams = app.extensions["fer"]["cameras"]
    scheme = "https" if args.cert else "http"
    print("Serving " + ", ".join(f"{c.source.kind} {c.source.text!r}" for c in cams)
          + f" at {scheme}://{args.host}:{args.port}  (Ctrl+C to stop)", flush=True)
    from ferapp import server

    try:
        if args.cert:
            server.serve_cheroot(app, args.host, args.port, args.cert, args.key,
                                 app.config["MAX_CONTENT_LENGTH"])
        elif args.server == "waitress":
            server.serve_waitress(app, args.host, args.port, app.config["MAX_CONTENT_LENGTH"])
        else:
            server.serve_flask(app, args.host, args.port)
    except server.TLSError as exc:
        print(f"main.py: error: {exc}", file=sys.stderr)
        return 2
    finally:
        for cam in cams:
            cam.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
