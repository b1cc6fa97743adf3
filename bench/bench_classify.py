"""Per-face classification cost: each ONNX Runtime configuration vs fp32 without TTA (the
previous served path) and vs Keras' model.predict once per face.

    python bench/bench_classify.py [--repeat N]

The budget of issue 9: at most 3 ms per face at batch 4 as served (4 faces at >= 30 fps).
"""

import argparse

from common import ROOT, timeit

import numpy as np

from ferapp.system import cpu_name, int8_dot_products
from ferapp.vision.classifier import FacialExpressionModel

CONFIGS = [("onnx", False, "fp32 (baseline)"), ("onnx", True, "fp32 + flip TTA"),
           ("int8", False, "int8"), ("int8", True, "int8 + flip TTA")]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=200)
    args = p.parse_args()
    files = ROOT / "model.json", ROOT / "model_weights.h5"
    served = FacialExpressionModel(*files)  # what the app serves on this CPU
    models = {name + (" (served)" if (rt, flip) == (served.runtime, served.flip_tta) else ""):
              FacialExpressionModel(*files, runtime=rt, flip_tta=flip)
              for rt, flip, name in CONFIGS}
    rng = np.random.default_rng(0)
    print(f"{cpu_name()}, int8 dot products: {'yes' if int8_dot_products() else 'no'}; "
          f"median of {args.repeat} calls, 1 ONNX Runtime thread; ms per face")
    print(f"{'configuration':<26}" + "".join(f"{f'{n} face' + 's' * (n > 1):>10}"
                                               for n in (1, 4, 16)) + f"{'vs baseline @4':>16}")
    base4 = None
    for name, model in models.items():
        cells = []
        for n in (1, 4, 16):
            faces = rng.integers(0, 256, (n, 48, 48), dtype=np.uint8)
            cells.append(timeit(lambda m=model, f=faces: m.predict_scores(f), args.repeat) / n)
        base4 = base4 or cells[1]
        print(f"{name:<26}" + "".join(f"{c:>10.2f}" for c in cells)
              + f"{base4 / cells[1]:>15.2f}x")
    keras_model = served.keras_model
    x = rng.integers(0, 256, (4, 48, 48), dtype=np.uint8)
    t_served = timeit(lambda: served.predict_scores(x), args.repeat)
    t_predict = timeit(lambda: [keras_model.predict(x[i:i + 1, ..., None].astype("float32"),
                                                    verbose=0) for i in range(4)],
                       5, warmup=2)
    print(f"4 faces served {t_served:.2f} ms vs model.predict per face {t_predict:.1f} ms "
          f"({__import__('keras').backend.backend()}): {t_predict / t_served:.0f}x")


if __name__ == "__main__":
    main()
