"""The Flask app: an annotated MJPEG stream, a status feed and an upload API.

    python main.py [--source 0|demo|FILE|URL ...] [--host 127.0.0.1] [--port 5000]
                   [--cert CERT.pem --key KEY.pem]

``create_app`` wires the package's pieces (ferapp.vision for the sources and the
pipeline, ferapp.web for the routes, guards and servers); ``main`` is the command line.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys

from flask import Flask

from ferapp.system import quiet_native_logs, tune_malloc
from ferapp.vision.broadcast import VideoCamera
from ferapp.vision.classifier import ModelLoadError
from ferapp.vision.detect import DETECTORS, DetectorUnavailable, make_detector
from ferapp.vision.models import default_model
from ferapp.vision.motion import DEFAULT_DETECT_EVERY
from ferapp.vision.pipeline import ExpressionPipeline, LockedPipeline
from ferapp.vision.sources import SourceError, resolve_source
from ferapp.vision.stream import StreamAnnotator
from ferapp.web import api, auth, errors, guards, inpage, pages, servers, static_site, tls
from ferapp.web.state import AppState, defaults
from ferapp.web.visitors import BrowserSessions


def create_app(config: dict | None = None, *, model=None, camera=None,
               cameras=None) -> Flask:
    """Build the app around a model and its VideoCameras (real ones unless given).

    ``config["SOURCES"]`` lists the sources the page can pick from (``SOURCE``: just one);
    ``camera`` / ``cameras`` replace them with ready VideoCameras (tests).
    """
    app = Flask(__name__)
    app.json.sort_keys = False  # keep scores in the canonical label order
    app.config.from_mapping(defaults())
    app.config.from_prefixed_env("FER")
    if "FER_TOKEN" in os.environ:
        app.config["TOKEN"] = os.environ["FER_TOKEN"]  # as typed, not parsed as JSON
    app.config.update(config or {})
    cfg = app.config
    cameras = [camera] if camera is not None else cameras
    # sources and detectors before the model: fail fast on one that does not open
    sources = None if cameras is not None else list(dict.fromkeys(
        resolve_source(text) for text in cfg["SOURCES"] or [cfg["SOURCE"]]))
    stills_detector = make_detector(cfg["DETECTOR"])
    stills_detector.release_memory = True  # a still's ~80 MB of buffers are not kept
    model = model or default_model()
    # one live pipeline for every stream and browser camera (calls are serialised)
    live = LockedPipeline(ExpressionPipeline(model, make_detector(cfg["DETECTOR"])))

    def annotator():
        return StreamAnnotator(live, detect_every=cfg["DETECT_EVERY"], smooth_s=cfg["SMOOTH_S"])

    if cameras is None:
        cameras = [VideoCamera(s, annotator(), loop=cfg["LOOP"], staged=bool(cfg["STAGED"]))
                   for s in sources]
    app.extensions["fer"] = AppState.create(
        model, cameras,
        BrowserSessions(annotator, cfg["LIVE_MAX_SESSIONS"], max_fps=cfg["LIVE_MAX_FPS"],
                        per_client=cfg["LIVE_MAX_PER_CLIENT"]),
        LockedPipeline(ExpressionPipeline(model, stills_detector, still=True)),
        cfg["DECODE_SLOTS"], float(cfg["DECODE_BUDGET_MB"]), cfg["MAX_VIEWERS"],
        cfg["STATUS_INTERVAL_S"])
    guards.install(app)
    if cfg["TOKEN"] is not None:
        auth.install(app, str(cfg["TOKEN"]))
    errors.install(app)
    app.register_blueprint(pages.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(inpage.bp)
    return app


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
    p.add_argument("--port", type=int, default=5000,
                   help="port to listen on (0: one the system picks, printed at start-up)")
    p.add_argument("--token", default=os.environ.get("FER_TOKEN"), metavar="TOKEN",
                   help="the token every route but /healthz needs (default: $FER_TOKEN; "
                        "with a --host beyond loopback, a random one printed at start-up)")
    p.add_argument("--no-auth", action="store_true",
                   help="with a --host beyond loopback: serve without a token (anyone who "
                        "can reach the port sees the camera)")
    p.add_argument("--no-loop", action="store_true", help="stop a video file at its end")
    p.add_argument("--detector", choices=DETECTORS, default="centerface",
                   help="face detector (haar needs no extra package)")
    p.add_argument("--detect-every", type=int, default=DEFAULT_DETECT_EVERY, metavar="K",
                   help="stream: run the face detector on every K-th frame (and when a face's "
                        "motion is unsure) and carry the faces by optical flow in between "
                        f"(default {DEFAULT_DETECT_EVERY}; 1: every frame)")
    p.add_argument("--smooth", type=float, default=None, metavar="SECONDS",
                   help="average each face's scores over this many seconds (default: "
                        "1, chosen by bench/bench_smoothing.py; 0: off)")
    p.add_argument("--server", choices=servers.SERVERS, default="waitress",
                   help="waitress (production WSGI server, the default) or Flask's own "
                        "development server; with --cert/--key: waitress behind an "
                        "asyncio TLS front")
    p.add_argument("--cert", default=None, metavar="PEM",
                   help="TLS certificate (chain) file: serve HTTPS, which browsers require "
                        "to share a camera with a page on another machine")
    p.add_argument("--key", default=None, metavar="PEM", help="the certificate's private key")
    p.add_argument("--export-static", default=None, metavar="DIR",
                   help="write the page, its scripts, ONNX Runtime Web and the models into "
                        "DIR (new or empty) for any static web host, and exit: the visitor's "
                        "camera and photos are analysed in the page, with no server")
    return p.parse_args(argv)


def check_args(args) -> str | None:
    """What is wrong with the options (one line), or None."""
    if bool(args.cert) != bool(args.key):
        return "--cert and --key go together"
    for path in filter(None, (args.cert, args.key)):
        if not os.path.isfile(path):
            return f"{path} does not exist"
    if args.token is not None and auth.token_problem(args.token):
        return f"--token: {auth.token_problem(args.token)}"
    if args.token is not None and args.no_auth:
        return "--token and --no-auth exclude each other"
    if args.smooth is not None and args.smooth < 0:
        return "--smooth must be at least 0"
    if args.port and servers.port_in_use(args.host, args.port):
        return (f"port {args.port} on {args.host} is in use; stop the other server or pass "
                "--port")
    return None


def access_token(args) -> str | None:
    """The token the server will require: --token / $FER_TOKEN, else a new one when the
    server is reachable beyond loopback (unless --no-auth), else none."""
    if args.token is not None:
        return args.token
    if args.no_auth or args.host in guards.LOOPBACK_NAMES:
        if args.no_auth and args.host not in guards.LOOPBACK_NAMES:
            print(f"main.py: WARNING: --no-auth: anyone who can reach {args.host}:"
                  f"{args.port} can watch the camera and use the API", file=sys.stderr)
        return None
    return auth.new_token()


def start_url(args, token: str | None, port: int | None = None) -> str:
    """The URL to open: ``port`` is the one bound (--port 0: the system's choice)."""
    scheme = "https" if args.cert else "http"
    host = socket.gethostname() if args.host in ("0.0.0.0", "::", "") else args.host
    host = f"[{host}]" if ":" in host else host
    return (f"{scheme}://{host}:{args.port if port is None else port}/"
            + (f"?token={token}" if token else ""))


def fail(message) -> int:
    print(f"main.py: error: {message}", file=sys.stderr)
    return 2


def export_page(args) -> int:
    """--export-static DIR: the page for a static host (web/static_site.py)."""
    try:
        app = create_app({"SOURCE": "demo", "DETECTOR": args.detector})
        index = static_site.export_static(app, args.export_static)
    except (ModelLoadError, DetectorUnavailable, static_site.StaticExportError) as exc:
        return fail(exc)
    except OSError as exc:
        return fail(f"cannot write {exc.filename or args.export_static}: {exc.strerror or exc}")
    finally:
        if "app" in locals():
            for cam in app.extensions["fer"].cameras:
                cam.stop()
    print(f"wrote the page to {index.parent}: serve that folder from any web host (e.g. "
          f"python -m http.server --directory {index.parent}) and open index.html")
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    quiet_native_logs()
    tune_malloc()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    problem = check_args(args)
    if problem:
        return fail(problem)
    if args.export_static:
        return export_page(args)
    token = access_token(args)
    try:
        extra = {} if args.smooth is None else {"SMOOTH_S": args.smooth}
        app = create_app({"SOURCES": args.source, "LOOP": not args.no_loop, **extra,
                          "TOKEN": token,
                          "DETECTOR": args.detector, "DETECT_EVERY": max(1, args.detect_every),
                          "ALLOWED_HOSTS": guards.allowed_hosts(args.host, args.allowed_host)})
    except (SourceError, ModelLoadError, DetectorUnavailable) as exc:
        return fail(exc)
    cams = app.extensions["fer"].cameras

    def bound(port: int):  # printed once the server listens, with the port it bound
        print("Serving " + ", ".join(f"{c.source.kind} {c.source.text!r}" for c in cams)
              + f" at {start_url(args, token, port)}  (Ctrl+C to stop)", flush=True)

    try:
        servers.serve(app, args.host, args.port, args.server, args.cert, args.key, bound)
    except tls.TLSError as exc:
        return fail(exc)
    except OSError as exc:  # the address went away between the check and the bind
        return fail(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}")
    finally:
        for cam in cams:
            cam.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
