"""FacialExpressionModel: load model.json + model_weights.h5 and classify 48x48 faces.

Inference never goes through Keras' ``model.predict`` (about 140 ms a call whatever the
batch). When ``model.onnx`` beside the weights was exported from exactly these weights
(its metadata holds the weights file's SHA-256), ONNX Runtime runs it; otherwise the
Keras model is called directly on the batch. Either way all faces of a frame are one call.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import numpy as np

from labels import EMOTIONS

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent
DEFAULT_JSON = REPO_ROOT / "model.json"
DEFAULT_WEIGHTS = REPO_ROOT / "model_weights.h5"
ONNX_NAME = "model.onnx"
INT8_NAME = "model.int8.onnx"  # written by ferapp.quantize
RUNTIMES = ("auto", "int8", "onnx", "keras")
TRAINING_NAME = "training.json"
FINGERPRINT_KEY = "weights_sha256"

__all__ = ["EMOTIONS", "FacialExpressionModel", "ModelLoadError", "export_artifacts"]


class ModelLoadError(Exception):
    """The model files are missing, corrupt or do not fit together."""


def weights_file(path: str | Path) -> Path:
    """A weights file given as itself or as the export folder holding model_weights.h5;
    raises ModelLoadError when there is none."""
    path = Path(path)
    if path.is_dir():
        path = path / DEFAULT_WEIGHTS.name
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


def _architecture_json(model) -> str:
    """The model's JSON without any compile config (which may name a backend optimizer)."""
    config = json.loads(model.to_json())
    config.pop("compile_config", None)
    return json.dumps(config)


def export_artifacts(model, out_dir: str | Path, training: dict | None = None,
                     onnx: bool = True, calibration_faces=None,
                     int8_bias: tuple[Path, np.ndarray] | None = None) -> dict[str, Path]:
    """Write model.json, model_weights.h5 (legacy H5), and model.onnx when possible; with
    ``calibration_faces`` (real uint8 faces, N x 48 x 48) also the int8 model.int8.onnx.
    With ``int8_bias`` = (int8 file of this model before its class bias, that bias), the
    int8 model is that file with the bias added to its logits instead of a new quantisation
    (``ferapp.quantize.with_class_bias``).

    Keras 3 refuses ``save_weights("model_weights.h5")``; ``model.save`` on an
    uncompiled copy writes the legacy H5 that ``load_weights`` reads back.
    """
    import keras

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    arch = _architecture_json(model)
    clean = keras.models.model_from_json(arch)
    clean.set_weights(model.get_weights())
    paths = {"json": out / "model.json", "weights": out / "model_weights.h5"}
    paths["json"].write_text(arch)
    clean.save(paths["weights"])
    if training is not None:
        paths["training"] = out / TRAINING_NAME
        paths["training"].write_text(json.dumps(training, indent=2))
    if onnx:
        try:
            paths["onnx"] = export_onnx(clean, out / ONNX_NAME, file_sha256(paths["weights"]))
        except Exception as exc:  # the export needs tf2onnx; the app falls back to Keras
            log.warning("ONNX export skipped (%s); inference will use Keras", exc)
    stale = out / INT8_NAME
    if stale.exists():  # an int8 file of earlier weights would be refused anyway
        stale.unlink()
    if "onnx" in paths and int8_bias is not None and Path(int8_bias[0]).is_file():
        from ferapp.quantize import with_class_bias

        paths["int8"] = with_class_bias(int8_bias[0], int8_bias[1], paths["onnx"],
                                        out / INT8_NAME)
    elif "onnx" in paths and calibration_faces is not None:
        from ferapp.quantize import quantize_int8

        paths["int8"] = quantize_int8(paths["onnx"], calibration_faces, out / INT8_NAME)
    return paths


def export_onnx(model, path: Path, fingerprint: str) -> Path:
    """Export to ONNX with the weights fingerprint in its metadata."""
    import onnx

    tmp = path.with_suffix(".tmp.onnx")
    model(np.zeros((1, *model.input_shape[1:]), "float32"))  # export needs a called model
    model.export(str(tmp), format="onnx", verbose=False)
    proto = onnx.load(str(tmp))
    entry = proto.metadata_props.add()
    entry.key, entry.value = FINGERPRINT_KEY, fingerprint
    onnx.save(proto, str(path))
    tmp.unlink()
    return path


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
            test-time augmentation, one batch of 2N): the served default; on PrivateTest
            +0.7 point on the original labels and +0.4 on FER+ (int8, shipped model;
            +1.1 / +1.4 on PublicTest);
            the int8 model pays for it.

    With ONNX Runtime, Keras (and its backend) is not even imported: the files are
    checked, and the ONNX file must carry the SHA-256 of exactly these weights.
    """

    EMOTIONS = EMOTIONS

    def __init__(self, json_path=DEFAULT_JSON, weights_path=DEFAULT_WEIGHTS,
                 runtime: str = "auto", threads: int = 1, flip_tta: bool = True):
        if runtime not in RUNTIMES:
            raise ValueError(f"unknown runtime {runtime!r}; choose from {', '.join(RUNTIMES)}")
        self.json_path, self.weights_path = Path(json_path), Path(weights_path)
        self.input_size = _check_files(self.json_path, self.weights_path)
        self.flip_tta = bool(flip_tta)
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
                 self.runtime, ", flip TTA" if self.flip_tta else "")

    @property
    def keras_model(self):
        """The Keras model (loaded on first use when ONNX Runtime serves predictions)."""
        if self._keras is None:
            self._keras = load_keras_model(self.json_path, self.weights_path)
        return self._keras

    def _open_onnx(self, path: Path, threads: int, required: bool):
        problem = None
        try:
            import onnxruntime as ort
        except ImportError:
            problem = "onnxruntime is not installed"
        if problem is None and not path.is_file():
            problem = f"{path} not found"
        if problem is None:
            from ferapp.onnxrt import session as open_session

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
        if self.flip_tta:
            x = np.concatenate([x, x[:, :, ::-1]])
        if self._session is not None:
            p = self._session.run(None, {self._input_name: x})[0]
        else:
            p = np.asarray(self._keras(x, training=False))
        if self.flip_tta:
            n = len(faces)
            p = (p[:n] + p[n:]) / 2
        return p

    def predict_emotion(self, face: np.ndarray) -> str:
        """Return the label of one 48x48 grayscale face (the tutorial's API)."""
        return EMOTIONS[int(np.argmax(self.predict_scores(face)[0]))]


def default_model() -> FacialExpressionModel:
    """The shipped model, or the one in $FER_MODEL_DIR; $FER_RUNTIME picks the runtime,
    FER_FLIP_TTA=0 turns the flip test-time augmentation off."""
    d = Path(os.environ.get("FER_MODEL_DIR", REPO_ROOT))
    return FacialExpressionModel(d / "model.json", d / "model_weights.h5",
                                 runtime=os.environ.get("FER_RUNTIME", "auto"),
                                 flip_tta=os.environ.get("FER_FLIP_TTA", "1") != "0")
