"""Export a trained Keras model: model.json + model_weights.h5 (legacy H5, the design card's
files), model.onnx with the weights fingerprint, and the int8 model.int8.onnx."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from ferapp.labels import EMOTIONS
from ferapp.learning.quantize import quantize_int8, with_class_bias
from ferapp.system import atomic_write_text
from ferapp.vision.classifier import (
    FINGERPRINT_KEY,
    INT8_NAME,
    JSON_NAME,
    ONNX_NAME,
    TRAINING_NAME,
    WEIGHTS_NAME,
    file_sha256,
)

log = logging.getLogger(__name__)


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
    (``quantize.with_class_bias``).

    Keras 3 refuses ``save_weights("model_weights.h5")``; ``model.save`` on an
    uncompiled copy writes the legacy H5 that ``load_weights`` reads back.
    """
    import keras

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    arch = _architecture_json(model)
    clean = keras.models.model_from_json(arch)
    clean.set_weights(model.get_weights())
    paths = {"json": out / JSON_NAME, "weights": out / WEIGHTS_NAME}
    atomic_write_text(paths["json"], arch)
    clean.save(paths["weights"])
    if training is not None:  # with the label order of the outputs (ensembles check it)
        paths["training"] = out / TRAINING_NAME
        atomic_write_text(paths["training"],
                          json.dumps({"labels": list(EMOTIONS), **training}, indent=2))
    if onnx:
        try:
            paths["onnx"] = export_onnx(clean, out / ONNX_NAME, file_sha256(paths["weights"]))
        except Exception as exc:  # the export needs tf2onnx; the app falls back to Keras
            log.warning("ONNX export skipped (%s); inference will use Keras", exc)
    stale = out / INT8_NAME
    if stale.exists():  # an int8 file of earlier weights would be refused anyway
        stale.unlink()
    if "onnx" in paths and int8_bias is not None and Path(int8_bias[0]).is_file():
        paths["int8"] = with_class_bias(int8_bias[0], int8_bias[1], paths["onnx"],
                                        out / INT8_NAME)
    elif "onnx" in paths and calibration_faces is not None:
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
