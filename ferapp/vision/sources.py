"""Video sources: a webcam index, a video file, a still image, a stream URL, or "demo" (a
slow pan over a real photo that matplotlib ships, so the app shows annotated video on a
machine with no camera). ``parse_source`` reads the text, ``open_capture`` opens it.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ferapp.vision.intake import InvalidImage, decode_image

log = logging.getLogger(__name__)

# Point the app at another source with `python main.py --source ...`, or $FER_SOURCE.
DEFAULT_SOURCE = "0"
IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff",
                    ".heic", ".heif"}
VIDEO_EXTENSIONS = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv",
                    ".flv", ".3gp", ".ts"}
STREAM_SCHEMES = ("rtsp", "rtsps", "http", "https", "rtmp", "udp", "tcp")
# The most pixels a frame of a video file, stream or webcam may have: a frame is held
# several times over while it is analysed and drawn (4096 x 4096 = 16.8 M; a 4K UHD frame
# has 8.3 M, an 8K one 33 M). $FER_MAX_FRAME_PIXELS (or analyze.py --max-frame-pixels)
# raises or lowers it.
MAX_FRAME_PIXELS = 4096 * 4096
FRAME_LIMIT_ENV = "FER_MAX_FRAME_PIXELS"


class SourceError(Exception):
    """A video source that does not exist or cannot be opened."""


def frame_limit() -> int:
    """The frame-size limit in force: $FER_MAX_FRAME_PIXELS, else MAX_FRAME_PIXELS."""
    text = os.environ.get(FRAME_LIMIT_ENV, "").strip()
    if not text:
        return MAX_FRAME_PIXELS
    if not text.isdigit() or int(text) < 1:
        raise SourceError(f"{FRAME_LIMIT_ENV}={text!r}: give a whole number of pixels")
    return int(text)


def oversized(width: int, height: int, max_pixels: int) -> str | None:
    """Why frames of width x height are refused (one phrase), or None when they fit."""
    if width * height <= max_pixels:
        return None
    return (f"its frames of {width}x{height} ({width * height:,} pixels) are above the "
            f"limit of {max_pixels:,} pixels (--max-frame-pixels or ${FRAME_LIMIT_ENV} "
            "raises it; each frame needs about 3 bytes a pixel several times over)")


def declared_oversize(cap, max_pixels: int) -> str | None:
    """Why an opened capture's frames are refused by the size it declares (before a frame
    is decoded), or None when they fit."""
    return oversized(int(cap.get(cv2.CAP_PROP_FRAME_WIDTH) or 0),
                     int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0), max_pixels)


class BoundedCapture:
    """A cv2.VideoCapture whose frames above ``max_pixels`` end it: read() says no frame
    (a stream then reconnects, and its new size is checked when it opens again)."""

    def __init__(self, cap, max_pixels: int, text: str):
        self.cap, self.max_pixels, self.text = cap, max_pixels, text

    def read(self):
        ok, frame = self.cap.read()
        if ok and frame is not None:
            why = oversized(frame.shape[1], frame.shape[0], self.max_pixels)
            if why:
                log.warning("%s: %s", self.text, why)
                return False, None
        return ok, frame

    def __getattr__(self, name):  # get, set, isOpened, release
        return getattr(self.cap, name)


def demo_photo() -> np.ndarray:
    """matplotlib's sample photo of Grace Hopper (BGR)."""
    import matplotlib.cbook

    path = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    img = cv2.imread(str(path))
    if img is None:
        raise SourceError(f"cannot read the demo photo {path}")
    return img


class DemoCapture:
    """A cv2.VideoCapture look-alike: a 640x480, 15 fps slow pan and zoom over a real photo."""

    fps = 15.0

    def __init__(self, size=(640, 480)):
        self.photo, self.size, self.t = demo_photo(), size, 0

    def isOpened(self):  # noqa: N802 (cv2 naming)
        return True

    def read(self):
        w, h = self.size
        ph, pw = self.photo.shape[:2]
        phase = (np.sin(self.t / 40.0) + 1) / 2  # 0..1, period ~17 s
        zoom = 0.6 + 0.25 * phase
        scale = min(w / pw, h / ph) * zoom
        img = cv2.resize(self.photo, (round(pw * scale), round(ph * scale)),
                         interpolation=cv2.INTER_AREA)
        frame = np.full((h, w, 3), 40, np.uint8)
        x = round((w - img.shape[1]) * (0.2 + 0.6 * phase))
        y = round((h - img.shape[0]) / 2)
        frame[y:y + img.shape[0], x:x + img.shape[1]] = img
        self.t += 1
        return True, frame

    def get(self, prop):
        return self.fps if prop == cv2.CAP_PROP_FPS else 0

    def release(self):
        pass


class ImageCapture(DemoCapture):
    """A still image, delivered as a stream at a low frame rate."""

    fps = 5.0

    def __init__(self, path):
        try:  # Pillow: EXIF orientation, HEIC; a large photo is reduced for the stream
            self.frame = decode_image(Path(path).read_bytes()).image
        except (InvalidImage, OSError) as exc:
            raise SourceError(f"cannot decode image {path}: {exc}") from None

    def read(self):
        return True, self.frame.copy()


@dataclass(frozen=True)
class Source:
    """A parsed source description."""

    kind: str  # webcam | file | image | url | demo
    target: object
    text: str

    @property
    def live(self) -> bool:
        return self.kind in ("webcam", "url")


def parse_source(text: str | int | None) -> Source:
    """Classify a source string; raise SourceError for a path that does not exist."""
    text = str(DEFAULT_SOURCE if text is None else text).strip()
    if text == "demo":
        return Source("demo", None, text)
    if text.isdigit():
        return Source("webcam", int(text), text)
    if "://" in text:
        scheme = text.split("://", 1)[0].lower()
        if scheme not in STREAM_SCHEMES:
            raise SourceError(f"unsupported stream scheme {scheme!r} in {text}")
        return Source("url", text, text)
    path = Path(text).expanduser()
    if not path.is_file():
        raise SourceError(f"source {text!r} is not a webcam index, URL, 'demo' or an "
                          "existing file")
    kind = "image" if path.suffix.lower() in IMAGE_EXTENSIONS else "file"
    return Source(kind, str(path), text)


def open_capture(source: Source):
    """Open a source; return an object with read()/get()/release(), or raise SourceError."""
    if source.kind == "demo":
        return DemoCapture()
    if source.kind == "image":
        return ImageCapture(source.target)
    cap = cv2.VideoCapture(source.target)
    if not cap.isOpened():
        cap.release()
        raise SourceError(f"cannot open {source.kind} {source.text}")
    limit = frame_limit()
    why = declared_oversize(cap, limit)
    if why:
        cap.release()
        raise SourceError(f"{source.kind} {source.text}: {why}")
    cap = BoundedCapture(cap, limit, f"{source.kind} {source.text}")
    if source.kind == "file":
        ok, _ = cap.read()  # a file that opens but holds no decodable frame is no video
        if not ok:
            cap.release()
            raise SourceError(f"cannot decode a frame of {source.text}")
        cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
    return cap


def resolve_source(requested: str | None, opener=open_capture) -> Source:
    """The source to serve: the requested one (checked now), else the default or demo.

    An explicit source that cannot be opened is an error; with none given, a default
    webcam that does not open falls back to the demo so a newcomer still sees video.
    """
    explicit = requested or os.environ.get("FER_SOURCE")
    source = parse_source(explicit or DEFAULT_SOURCE)
    try:
        opener(source).release()
    except SourceError:
        if explicit:
            raise
        log.warning("no webcam at %s; showing the demo source", source.text)
        return parse_source("demo")
    return source
