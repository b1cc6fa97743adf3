"""The design card's camera module: ``from camera import VideoCamera``.

    camera = VideoCamera(parse_source("demo"), StreamAnnotator(pipeline))
    for frame in camera.frames():                     # one analysed, JPEG-encoded frame each
        ...

One background thread per source reads, analyses and encodes each frame once and
broadcasts it to every viewer (``ferapp.vision.broadcast``); sources are a webcam index, a
video file, an image, a stream URL or "demo" (``ferapp.vision.sources``).
"""

from ferapp.vision.broadcast import Frame, VideoCamera
from ferapp.vision.sources import Source, SourceError, parse_source, resolve_source

__all__ = ["Frame", "Source", "SourceError", "VideoCamera", "parse_source", "resolve_source"]
