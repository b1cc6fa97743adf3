"""Cost of each architecture in network.ARCHITECTURES: multiply-adds per face counted from
its exported ONNX graph, parameters, training seconds per epoch on this CPU in float32 and
in mixed bfloat16, and served milliseconds per face (ONNX Runtime, 1 thread, batch of 4:
fp32, and int8 with flip TTA as the app serves it), relative to the tutorial's network
measured in the same run; with --runs, the accuracy/cost curve: each trained export's
PublicTest accuracy as served (original labels and FER+ majority) beside its cost.

    python bench/bench_arch.py [--steps 12] [--arch compact wide ...] [--runs . runs/x ...]
"""

import argparse
import tempfile
import time
from pathlib import Path

from common import timeit

import keras  # noqa: E402  (after common: quiet TensorFlow logs)
import numpy as np

from ferapp.learning.architectures import ARCHITECTURES, STUDENT_MACS
from ferapp.learning.cost import multiply_adds
from ferapp.learning.export import export_artifacts
from ferapp.learning.network import build_model, dtype_policy
from ferapp.system import INT8_DOT_PRODUCT_FLAGS, cores, cpu_flags, cpu_name
from ferapp.vision.classifier import FacialExpressionModel

FACES = np.random.default_rng(1).integers(0, 256, (4, 48, 48), dtype=np.uint8)


def train_cost(arch: str, steps: int, precision: str, batch: int = 64) -> float:
    """Seconds per FER-2013 epoch (28,709 images), from `steps` timed training steps."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (batch * steps, 48, 48, 1)).astype("float32")
    y = keras.utils.to_categorical(rng.integers(0, 7, batch * steps), 7)
    with dtype_policy(precision):
        model = build_model(arch)
    model.compile(keras.optimizers.AdamW(1e-3), "categorical_crossentropy")
    model.fit(x[:batch * 2], y[:batch * 2], batch_size=batch, verbose=0)  # compile, warm up
    t = time.perf_counter()
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
    return (time.perf_counter() - t) / len(x) * 28709


def infer_cost(arch: str) -> tuple[int, float, float]:
    """Multiply-adds per face of the exported graph; median ms per face for 4 faces: fp32
    ONNX without TTA, int8 with flip TTA (served)."""
    calibration = np.random.default_rng(2).integers(0, 256, (64, 48, 48), dtype=np.uint8)
    with tempfile.TemporaryDirectory() as tmp:
        paths = export_artifacts(build_model(arch), tmp, calibration_faces=calibration)
        files = Path(tmp) / "model.json", Path(tmp) / "model_weights.h5"
        fp32 = FacialExpressionModel(*files, runtime="onnx", flip_tta=False)
        served = FacialExpressionModel(*files, runtime="int8", flip_tta=True)
        return (multiply_adds(paths["onnx"]),
                *(timeit(lambda m=m: m.predict_scores(FACES), 100) / len(FACES)
                  for m in (fp32, served)))


def accuracy_curve(runs: list[str]) -> None:
    """Each trained export's PublicTest accuracy as served beside its cost."""
    import json

    from ferapp.learning import data as fer_data
    from ferapp.learning.evaluation import evaluate

    print(f"\n{'export':<24} {'arch':<8} {'M mult-adds':>11} {'params':>10} "
          f"{'ms/face served':>14} {'original':>8} {'FER+':>7} {'weakest recall':>16}")
    for run in runs:
        folder = Path(run)
        training = json.loads((folder / "training.json").read_text())
        arch = training.get("config", {}).get("arch", "wide")
        served = FacialExpressionModel(folder / "model.json", folder / "model_weights.h5",
                                       runtime="int8", flip_tta=True)
        ms = timeit(lambda m=served: m.predict_scores(FACES), 100) / len(FACES)
        report = evaluate(folder, fer_data.default_data_dir(), splits="public")
        public = report["splits"]["PublicTest"]
        weakest = min(((c, m["recall"]) for c, m in public["original"]["per_class"].items()),
                      key=lambda kv: kv[1])
        params = keras.models.model_from_json((folder / "model.json").read_text()).count_params()
        print(f"{run:<24} {arch:<8} {multiply_adds(folder / 'model.onnx') / 1e6:>11.1f} "
              f"{params:>10,} {ms:>14.2f} {public['original']['accuracy']:>8.4f} "
              f"{public['ferplus']['accuracy']:>7.4f} {weakest[0]:>10} {weakest[1]:.3f}")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--arch", nargs="+", choices=sorted(ARCHITECTURES),
                   default=list(ARCHITECTURES))
    p.add_argument("--runs", nargs="+", default=[], metavar="EXPORT",
                   help="trained exports to score on PublicTest beside their cost")
    args = p.parse_args()
    dots = sorted(cpu_flags() & INT8_DOT_PRODUCT_FLAGS)
    print(f"{cpu_name()}; int8 dot products: {', '.join(dots) or 'none'}")
    archs = ["tutorial", *[a for a in args.arch if a != "tutorial"]]  # the baseline
    rows = {a: (build_model(a).count_params(),
                train_cost(a, args.steps, "float32"),
                train_cost(a, args.steps, "mixed_bfloat16"),
                *infer_cost(a)) for a in archs}
    ref = rows["tutorial"]
    print(f"{'architecture':<12} {'M mult-adds':>11} {'params':>10} {'s/epoch fp32':>12} "
          f"{'bf16':>6} {'vs tutorial':>11} {'ms/face fp32':>12} {'int8+flip':>9} "
          f"{'vs tutorial':>11}")
    for a, (params, fp32, bf16, macs, infer, served) in rows.items():
        print(f"{a:<12} {macs / 1e6:>11.1f} {params:>10,} {fp32:>12.0f} {bf16:>6.0f} "
              f"{bf16 / ref[2]:>10.2f}x {infer:>12.2f} {served:>9.2f} {served / ref[5]:>10.2f}x")
    print(f"(vs tutorial: bf16 training, served int8 + flip; keras {keras.__version__}, "
          f"backend {keras.backend.backend()}, {cores()} CPUs, batch 64 / 4 faces; a "
          f"student may cost {STUDENT_MACS / 1e6:.0f} M multiply-adds)")
    if args.runs:
        accuracy_curve(args.runs)


if __name__ == "__main__":
    main()
