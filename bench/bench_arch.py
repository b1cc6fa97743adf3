"""Cost of each architecture in network.ARCHITECTURES: training time per epoch on this CPU
and served per-face inference (ONNX Runtime, 1 thread, batch of 4), relative to the
tutorial's network measured in the same run.

    python bench/bench_arch.py [--steps 12]
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from common import timeit

import keras  # noqa: E402  (after common: quiet TensorFlow logs)

from model import FacialExpressionModel, export_artifacts
from network import ARCHITECTURES, build_model


def train_cost(arch: str, steps: int, batch: int = 64) -> float:
    """Seconds per FER-2013 epoch (28,709 images), from `steps` timed training steps."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (batch * steps, 48, 48, 1)).astype("float32")
    y = keras.utils.to_categorical(rng.integers(0, 7, batch * steps), 7)
    model = build_model(arch)
    model.compile("adam", "categorical_crossentropy")
    model.fit(x[:batch * 2], y[:batch * 2], batch_size=batch, verbose=0)  # compile, warm up
    t = time.perf_counter()
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
    return (time.perf_counter() - t) / len(x) * 28709


def infer_cost(arch: str) -> float:
    """Median ms for 4 faces through the served path (ONNX Runtime, 1 thread)."""
    with tempfile.TemporaryDirectory() as tmp:
        export_artifacts(build_model(arch), tmp)
        model = FacialExpressionModel(Path(tmp) / "model.json", Path(tmp) / "model_weights.h5")
        assert model.runtime == "onnx"
        faces = np.random.default_rng(1).integers(0, 256, (4, 48, 48), dtype=np.uint8)
        return timeit(lambda: model.predict_scores(faces), 50)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=12)
    args = p.parse_args()
    rows = {a: (build_model(a).count_params(), train_cost(a, args.steps), infer_cost(a))
            for a in ARCHITECTURES}
    ref = rows["tutorial"]
    print(f"{'architecture':<12} {'params':>10} {'s/epoch':>8} {'vs tutorial':>11} "
          f"{'ms/4 faces':>10} {'vs tutorial':>11}")
    for a, (params, epoch, infer) in rows.items():
        print(f"{a:<12} {params:>10,} {epoch:>8.0f} {epoch / ref[1]:>10.2f}x {infer:>10.2f} "
              f"{infer / ref[2]:>10.2f}x")
    print(f"(keras {keras.__version__}, backend {keras.backend.backend()}, "
          f"{os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
