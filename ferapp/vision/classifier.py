"""FacialExpressionModel: load model.json + model_weights.h5 and classify 48x48 faces.

Inference never goes through Keras' ``model.predict`` (about 140 ms a call whatever the
batch). When ``model.onnx`` beside the weights was exported from exactly these weights
(its metadata holds the weights file's SHA-256), ONNX Runtime runs it; otherwise the
Keras model is called directly on the batch. Either way all faces of a frame are one call.
Nothing here imports Keras or TensorFlow unless the Keras runtime is used.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
from pathlib import Path

import numpy as np

from ferapp.labels import EMOTIONS
from ferapp.system import REPO_ROOT
from ferapp.vision.onnxrt import session as open_session

log = logging.getLogger(__name__)

# the files of an export folder (the shipped model's is the repository root)
JSON_NAME = "model.json"
WEIGHTS_NAME = "model_weights.h5"
ONNX_NAME = "model.onnx"
INT8_NAME = "model.int8.onnx"  # written by ferapp.learning.quantize
TRAINING_NAME = "training.json"
DEFAULT_JSON = REPO_ROOT / JSON_NAME
DEFAULT_WEIGHTS = REPO_ROOT / WEIGHTS_NAME
RUNTIMES = ("auto", "int8", "onnx", "keras")
FINGERPRINT_KEY = "weights_sha256"
# flip TTA only for faces whose first view's top score is under this (bench/bench_tta.py)
FLIP_BELOW = 0.55


class ModelLoadError(Exception):
    """The model files are missing, corrupt or do not fit together."""


def weights_file(path: str | Path) -> Path:
    """A weights file given as itself or as the export folder holding model_weights.h5;
    raises ModelLoadError when there is none."""
    path = Path(path)
    if path.is_dir():
        path = path / WEIGHTS_NAME
    if not path.is_file():
        raise ModelLoadError(f"no weights file at {path}")
    return path


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _check_files(json_path: Path, weights_path: Path) -> int:
    """Check both files exist and parse (without Keras); return the input size."""
    for p in (json_path, weights_path):
        if not p.is_file():
            raise ModelLoadError(
                f"model file {p} not found: train one (python train.py) or restore it "
                "from the repository (git checkout -- model.json model_weights.h5)"
            )
    try:
        config = json.loads(json_path.read_text())
        shape = config["config"]["layers"][0]["config"]["batch_shape"]
        size = int(shape[1])
    except Exception as exc:
        raise ModelLoadError(f"{json_path} is not a valid Keras model JSON ({exc!r})") from None
    import h5py

    try:
        with h5py.File(weights_path, "r") as f:
            if "model_weights" not in f and "layer_names" not in f.attrs:
                raise ValueError("no weights in the file")
    except Exception as exc:
        raise ModelLoadError(
            f"cannot load weights {weights_path}: not a Keras H5 weights file ({exc!r})"
        ) from None
    return size


def load_keras_model(json_path: str | Path, weights_path: str | Path):
    """Rebuild the Keras model from its JSON and H5 weights, or raise ModelLoadError."""
    json_path, weights_path = Path(json_path), Path(weights_path)
    _check_files(json_path, weights_path)
    import keras

    try:
        model = keras.models.model_from_json(json_path.read_text())
    except Exception as exc:
        raise ModelLoadError(f"{json_path} is not a valid Keras model JSON ({exc})") from None
    try:
        model.load_weights(weights_path)
    except Exception as exc:
        raise ModelLoadError(
            f"cannot load weights {weights_path} into {json_path} ({exc.__class__.__name__})"
        ) from None
    return model


class FacialExpressionModel:
    """A trained expression classifier for 48x48 grayscale faces.

    Args:
        json_path: the architecture (``model.json``).
        weights_path: the weights (``model_weights.h5``).
        runtime: "auto" (the first present of: ONNX Runtime on a matching model.int8.onnx,
            on a matching model.onnx, else Keras), "int8", "onnx" or "keras".
        threads: intra-op threads for ONNX Runtime (1 leaves a core for face detection).
        flip_tta: average each face's scores with its mirror image's (horizontal-flip
            test-time augmentation): the served default; on PrivateTest +0.7 point on the
            original labels and +0.4 on FER+ (int8, shipped model; +1.1 / +1.4 on
            PublicTest).
        flip_below: the mirror is run only for faces whose top score on the first view is
            under this (a face the model is sure of keeps its answer): FLIP_BELOW, chosen
            on PublicTest by ``bench/bench_tta.py`` (41 % of the faces flipped, the
            accuracy of flipping all); 1.0 or more flips every face.

    With ONNX Runtime, Keras (and its backend) is not even imported: the files are
    checked, and the ONNX file must carry the SHA-256 of exactly these weights.
    """

    EMOTIONS = EMOTIONS

    def __init__(self, json_path=DEFAULT_JSON, weights_path=DEFAULT_WEIGHTS,
                 runtime: str = "auto", threads: int = 1, flip_tta: bool = True,
                 flip_below: float = FLIP_BELOW):
        if runtime not in RUNTIMES:
            raise ValueError(f"unknown runtime {runtime!r}; choose from {', '.join(RUNTIMES)}")
        self.json_path, self.weights_path = Path(json_path), Path(weights_path)
        self.input_size = _check_files(self.json_path, self.weights_path)
        self.flip_tta, self.flip_below = bool(flip_tta), float(flip_below)
        self._keras = None
        self._session = None
        self.runtime = "keras"
        for name, kind in ((INT8_NAME, "int8"), (ONNX_NAME, "onnx")):
            if runtime in ("auto", kind):
                self._session = self._open_onnx(self.weights_path.with_name(name), threads,
                                                required=runtime == kind)
                if self._session is not None:
                    self.runtime = kind
                    break
        if self._session is None:
            self._keras = load_keras_model(self.json_path, self.weights_path)
        log.info("expression model %s loaded, runtime %s%s", self.weights_path.name,
                 self.runtime, f", flip TTA below {self.flip_below:g}" if self.flip_tta else "")

    @property
    def keras_model(self):
        """The Keras model (loaded on first use when ONNX Runtime serves predictions)."""
        if self._keras is None:
            self._keras = load_keras_model(self.json_path, self.weights_path)
        return self._keras

    def _open_onnx(self, path: Path, threads: int, required: bool):
        problem = None
        if importlib.util.find_spec("onnxruntime") is None:
            problem = "onnxruntime is not installed"
        if problem is None and not path.is_file():
            problem = f"{path} not found"
        if problem is None:
            try:
                session = open_session(str(path), threads)
            except Exception as exc:
                problem = f"{path} is corrupt ({exc.__class__.__name__})"
            else:
                meta = session.get_modelmeta().custom_metadata_map
                if meta.get(FINGERPRINT_KEY) == file_sha256(self.weights_path):
                    self._input_name = session.get_inputs()[0].name
                    return session
                problem = f"{path} was exported from other weights"
        if required:
            raise ModelLoadError(problem)
        log.info("not using ONNX Runtime: %s", problem)
        return None

    @property
    def input_name(self) -> str | None:
        """The input's name in the ONNX file that serves (None on the Keras runtime)."""
        return getattr(self, "_input_name", None)

    def predict_scores(self, faces: np.ndarray) -> np.ndarray:
        """Return (N, 7) probabilities in EMOTIONS order for uint8 faces (N, 48, 48)."""
        faces = np.asarray(faces)
        if faces.ndim == 2:
            faces = faces[None]
        size = self.input_size
        if faces.ndim != 3 or faces.shape[1:] != (size, size):
            raise ValueError(f"expected faces of shape (N, {size}, {size}), got {faces.shape}")
        if len(faces) == 0:
            return np.zeros((0, len(EMOTIONS)), "float32")
        x = faces.astype("float32")[..., None]
        if self.flip_tta and self.flip_below >= 1.0:  # every face: one call of 2N
            p = self._run(np.concatenate([x, x[:, :, ::-1]]))
            return (p[:len(x)] + p[len(x):]) / 2
        p = self._run(x)
        if self.flip_tta:
            unsure = np.flatnonzero(p.max(1) < self.flip_below)
            if len(unsure):
                p[unsure] = (p[unsure] + self._run(x[unsure][:, :, ::-1])) / 2
        return p

    def _run(self, x: np.ndarray) -> np.ndarray:
        if self._session is not None:
            return self._session.run(None, {self._input_name: x})[0]
        return np.array(self._keras(x, training=False))

    def predict_emotion(self, face: np.ndarray) -> str:
        """Return the label of one 48x48 grayscale face (the tutorial's API)."""
        return EMOTIONS[int(np.argmax(self.predict_scores(face)[0]))]


def check_export(folder: str | Path) -> int:
    """The input size of the export in ``folder`` (or of this weights file and the
    model.json beside it), read without Keras; ModelLoadError when a file is missing or
    unreadable."""
    weights = weights_file(folder)
    return _check_files(weights.parent / JSON_NAME, weights)


def load_export(folder: str | Path, **kwargs) -> FacialExpressionModel:
    """The model of an export folder (model.json + model_weights.h5); ``kwargs`` as for
    FacialExpressionModel."""
    folder = Path(folder)
    return FacialExpressionModel(folder / JSON_NAME, folder / WEIGHTS_NAME, **kwargs)
