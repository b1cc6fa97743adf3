"""Shared bench helpers: real-photo test frames and the tutorial-style baseline pipeline."""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from ferapp.labels import EMOTIONS  # noqa: E402
from ferapp.vision.boxes import Detection  # noqa: E402
from ferapp.vision.crop import crop_faces  # noqa: E402
from ferapp.vision.sources import demo_photo  # noqa: E402


def frame_with_faces(n: int, size=(640, 480)) -> np.ndarray:
    """A 640x480 BGR frame holding n copies (0, 1 or 4) of the real demo photo."""
    w, h = size
    frame = np.full((h, w, 3), 60, np.uint8)
    photo = demo_photo()
    if n == 0:
        # the same photo with the head cut off: real texture, no face
        body = photo[360:, :]
        frame[:] = cv2.resize(body, (w, h))
    elif n == 1:
        img = cv2.resize(photo, (round(photo.shape[1] * h / photo.shape[0]), h))
        x = (w - img.shape[1]) // 2
        frame[:, x:x + img.shape[1]] = img
    elif n == 4:
        cw, ch = w // 2, h // 2
        img = cv2.resize(photo, (round(photo.shape[1] * ch / photo.shape[0]), ch))
        for i in range(4):
            tile = img if i % 2 == 0 else img[:, ::-1]
            tile = cv2.convertScaleAbs(tile, alpha=1.0 - 0.1 * i, beta=10 * i)
            x0, y0 = (i % 2) * cw + (cw - img.shape[1]) // 2, (i // 2) * ch
            frame[y0:y0 + ch, x0:x0 + img.shape[1]] = tile
    else:
        raise ValueError("n must be 0, 1 or 4")
    return frame


BIG_FORMATS = ("JPEG", "PNG", "WEBP", "TIFF", "HEIF")  # HEIF needs pillow-heif


def big_photo(fmt: str, size=(7200, 5000)) -> bytes:
    """A 36-megapixel photo file in ``fmt`` that stays small on the wire (a smooth canvas,
    the real demo photo at its centre, a face the detector finds): what a phone or camera
    uploads at full resolution. Encoded with fast settings (a few seconds each)."""
    import io

    from PIL import Image

    w, h = size
    y, x = np.mgrid[0:h, 0:w]
    canvas = np.dstack([(x * 200 // w + 30), (y * 200 // h + 30),
                        np.full_like(x, 120)]).astype(np.uint8)
    del x, y
    photo = demo_photo()[..., ::-1]
    ph = h // 4
    photo = cv2.resize(photo, (round(photo.shape[1] * ph / photo.shape[0]), ph))
    top, left = (h - ph) // 2, (w - photo.shape[1]) // 2
    canvas[top:top + ph, left:left + photo.shape[1]] = photo
    options = {"JPEG": {"quality": 85}, "PNG": {"compress_level": 1},
               "WEBP": {"quality": 80, "method": 0}, "TIFF": {"compression": "tiff_deflate"},
               "HEIF": {"quality": 50}}[fmt]
    if fmt == "HEIF":
        import pillow_heif

        pillow_heif.register_heif_opener()
    buf = io.BytesIO()
    Image.fromarray(canvas).save(buf, fmt, **options)
    return buf.getvalue()


def timeit(fn, repeat: int = 30, warmup: int = 3) -> float:
    """Median wall time of fn() in milliseconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


class TutorialPipeline:
    """The tutorial's per-frame code: full-resolution Haar at scaleFactor 1.3 and
    Keras' model.predict once per face."""

    def __init__(self, keras_model, input_size: int = 48):
        self.model, self.size = keras_model, input_size
        self.cascade = cv2.CascadeClassifier(
            cv2.data.haarcascades + "haarcascade_frontalface_default.xml")

    def detect(self, gray):
        return [tuple(map(int, b)) for b in self.cascade.detectMultiScale(gray, 1.3, 5)]

    def classify(self, gray, boxes):
        labels = []
        for face in crop_faces(gray, boxes, self.size):
            x = face[None, ..., None].astype("float32")
            pred = self.model.predict(x, verbose=0)
            labels.append(EMOTIONS[int(np.argmax(pred))])
        return labels

    def process(self, jpeg: bytes) -> bytes:
        frame = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        boxes = self.detect(gray)
        for (x, y, w, h), label in zip(boxes, self.classify(gray, boxes), strict=True):
            cv2.putText(frame, label, (x, y), cv2.FONT_HERSHEY_SIMPLEX, 1, (255, 255, 0), 2)
            cv2.rectangle(frame, (x, y), (x + w, y + h), (255, 0, 0), 2)
        return cv2.imencode(".jpg", frame)[1].tobytes()


def devset_dir() -> Path:
    """The dev set of real photos and videos ($FER_DEVSET, default ../shared/data/devset)."""
    return Path(os.environ.get("FER_DEVSET", str(ROOT.parent / "shared" / "data" / "devset")))


def clip_frames(path, max_frames: int = 150, width: int = 640) -> list:
    """The first frames of a video, resized to ``width`` pixels wide."""
    cap = cv2.VideoCapture(str(path))
    got = []
    while len(got) < max_frames:
        ok, f = cap.read()
        if not ok:
            break
        if f.shape[1] != width:
            f = cv2.resize(f, (width, round(f.shape[0] * width / f.shape[1])),
                           interpolation=cv2.INTER_AREA)
        got.append(f)
    cap.release()
    return got


FOUR_FACE_CLIPS = ("talking_glasses_01.mp4", "expressions_01.mp4", "talking_01.mp4",
                   "talking_glasses_01.mp4")


def four_face_clip(devset: Path, frames: int = 300) -> list:
    """A 640x480 clip with four real moving people: four dev videos (the fourth mirrored
    and 5 s later), each a 320x240 tile whose window pans across its source (up to ~3 px
    a frame), so faces turn, talk and travel at once."""
    tiles = []
    for i, name in enumerate(FOUR_FACE_CLIPS):
        cap = cv2.VideoCapture(str(devset / "videos" / name))
        if i == 3:
            cap.set(cv2.CAP_PROP_POS_FRAMES, 150)
        got = []
        while len(got) < frames:
            ok, f = cap.read()
            if not ok:  # loop a short source
                cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                ok, f = cap.read()
                if not ok:
                    break
            f = f[:, ::-1] if i == 3 else f
            scale = 300 / f.shape[0]
            f = cv2.resize(f, (max(400, round(f.shape[1] * scale)), 300),
                           interpolation=cv2.INTER_AREA)
            n = len(got)
            x = round((f.shape[1] - 320) * (0.5 + 0.5 * np.sin(n / 25 + i)))
            y = round(60 * (0.5 + 0.5 * np.sin(n / 19 + 2 * i)))
            got.append(f[y:y + 240, x:x + 320])
        cap.release()
        tiles.append(got)
    n = min(len(t) for t in tiles)
    return [np.vstack([np.hstack([tiles[0][k], tiles[1][k]]),
                       np.hstack([tiles[2][k], tiles[3][k]])]) for k in range(n)]


def shifted(face: Detection, offset: float) -> Detection:
    """The detection moved down by ``offset`` of its height (negative: up), eyes too."""
    x, y, w, h = face.box
    dy = offset * h
    eyes = None if face.eyes is None else tuple((ex, ey + dy) for ex, ey in face.eyes)
    return Detection((x, int(round(y + dy)), w, h), face.score, eyes)
