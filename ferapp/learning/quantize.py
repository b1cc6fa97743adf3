"""int8 copy of the exported classifier (ONNX Runtime static quantisation).

The fp32 ``model.onnx`` is quantised to ``model.int8.onnx``: QDQ format, int8 weights per
output channel, int8 activations whose ranges are calibrated on real Training faces.
ONNX Runtime fuses the QDQ pairs into integer convolutions; on CPUs with VNNI/AMX int8
(this machine) a batch of 4 faces runs about 2.8x faster than fp32 at the same accuracy
(``python bench/bench_classify.py``), which pays for horizontal-flip test-time
augmentation in the live pipeline. The int8 file carries the same weights fingerprint as
the fp32 one, so ``FacialExpressionModel`` only serves it beside exactly those weights.

    python -m ferapp.learning.quantize [--model-dir DIR] [--data DIR]   # an existing export
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from ferapp.learning import data as fer_data
from ferapp.system import REPO_ROOT, atomic_path
from ferapp.vision.classifier import INT8_NAME, ONNX_NAME, TRAINING_NAME

CALIBRATION_FACES = 512


def calibration_faces(x_train: np.ndarray, n: int = CALIBRATION_FACES,
                      seed: int = 0) -> np.ndarray:
    """A fixed random sample of Training faces, (n, 48, 48) uint8, for activation ranges."""
    rng = np.random.default_rng(seed)
    return x_train[np.sort(rng.choice(len(x_train), min(n, len(x_train)), replace=False))]


def quantize_int8(fp32_path: str | Path, faces: np.ndarray, out_path: str | Path | None = None,
                  batch: int = 32) -> Path:
    """Write the int8 model beside ``fp32_path`` (or to ``out_path``), calibrated on
    ``faces`` (N, 48, 48) uint8, with the fp32 model's metadata (weights fingerprint)."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    fp32_path = Path(fp32_path)
    out_path = Path(out_path) if out_path else fp32_path.with_name(INT8_NAME)
    if len(faces) == 0:
        raise ValueError("no calibration faces")
    source = onnx.load(str(fp32_path))
    input_name = source.graph.input[0].name
    x = np.asarray(faces)[..., None].astype("float32")

    class Faces(CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{input_name: x[i:i + batch]} for i in range(0, len(x), batch)])

        def get_next(self):
            return next(self.batches, None)

    with tempfile.TemporaryDirectory() as tmp:
        pre, quant = Path(tmp) / "pre.onnx", Path(tmp) / "int8.onnx"
        quant_pre_process(str(fp32_path), str(pre), skip_symbolic_shape=True)  # no sympy
        # the softmax stays in float: quantised, its probabilities would not sum to 1
        softmax = [n.name for n in onnx.load(str(pre)).graph.node if n.op_type == "Softmax"]
        # 7-bit weights (reduce_range): CPUs without int8 dot products (AVX2, AVX-512
        # without VNNI) add pairs of 8-bit products in 16 bits, which saturate with full-range
        # weights (shipped model on an AVX2 EPYC: 94 % top-1 agreement with fp32, -1.2
        # points); with 7 bits no sum overflows, so the integer results, and the accuracy,
        # are the same on every CPU (98.9 % agreement there)
        quantize_static(str(pre), str(quant), Faces(), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QInt8,
                        weight_type=QuantType.QInt8, nodes_to_exclude=softmax,
                        reduce_range=True)
        proto = onnx.load(str(quant))
        del proto.metadata_props[:]
        for entry in source.metadata_props:
            proto.metadata_props.add(key=entry.key, value=entry.value)
        with atomic_path(out_path) as partial:
            onnx.save(proto, str(partial))
    return out_path


def with_class_bias(int8_path: str | Path, bias: np.ndarray, fp32_path: str | Path,
                    out_path: str | Path) -> Path:
    """Write ``out_path``: the int8 model ``int8_path`` with ``bias`` added to its logits in
    float, just before its (float) softmax, and ``fp32_path``'s metadata (weights
    fingerprint). The class bias is chosen on the scores of the int8 model before it; added
    this way, the served int8 model scores exactly what the search saw, where quantising
    the biased fp32 model again would calibrate other logit ranges (0.1-0.2 point off)."""
    import onnx
    from onnx import helper, numpy_helper

    proto = onnx.load(str(int8_path))
    softmax = [n for n in proto.graph.node if n.op_type == "Softmax"]
    if len(softmax) != 1:
        raise ValueError(f"{int8_path} has {len(softmax)} Softmax nodes, expected 1")
    logits = softmax[0].input[0]
    proto.graph.initializer.append(
        numpy_helper.from_array(np.asarray(bias, dtype="float32"), "class_bias"))
    proto.graph.node.insert(list(proto.graph.node).index(softmax[0]), helper.make_node(
        "Add", [logits, "class_bias"], ["biased_logits"], name="class_bias_add"))
    softmax[0].input[0] = "biased_logits"
    del proto.metadata_props[:]
    for entry in onnx.load(str(fp32_path)).metadata_props:
        proto.metadata_props.add(key=entry.key, value=entry.value)
    onnx.checker.check_model(proto)
    out_path = Path(out_path)
    with atomic_path(out_path) as partial:
        onnx.save(proto, str(partial))
    return out_path


def export_seed(folder: Path) -> int:
    """The seed the export's training used (its training.json), so that the int8 file is
    calibrated on the same faces as at export; 0 without a record."""
    record = folder / TRAINING_NAME
    try:
        return int(json.loads(record.read_text())["config"]["seed"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m ferapp.learning.quantize",
                                description="write model.int8.onnx beside an export's model.onnx")
    p.add_argument("--model-dir", default=str(REPO_ROOT))
    p.add_argument("--data", default=str(fer_data.default_data_dir()),
                   help="FER-2013 folder (Training faces calibrate the activation ranges)")
    args = p.parse_args(argv)
    fp32 = Path(args.model_dir) / ONNX_NAME
    if not fp32.is_file():
        print(f"quantize: error: {fp32} not found (export the model first)", file=sys.stderr)
        return 2
    try:
        x_train, _ = fer_data.load_split(args.data, "train")
    except fer_data.DataError as exc:
        print(f"quantize: error: {exc}", file=sys.stderr)
        return 2
    seed = export_seed(Path(args.model_dir))
    out = quantize_int8(fp32, calibration_faces(x_train, seed=seed))
    print(f"wrote {out} (calibrated on {CALIBRATION_FACES} Training faces, seed {seed})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
