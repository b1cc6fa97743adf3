"""Per-face classification cost: each ONNX Runtime configuration vs fp32 without TTA (the
previous served path) and vs Keras' model.predict once per face.

    python bench/bench_classify.py [--repeat N] [--data DIR] [--ensemble EXPORT ...]

Faces are real PublicTest faces (a different batch each call) when FER-2013 is there,
else random pixels: the flip gate (the mirror only for faces the first view is unsure of)
costs what the faces make it cost. "flip all" was the served path until 2026-12-05.
Budgets: 3 ms per face at batch 4 as served (issue 9); 2.0 ms on the AMD EPYC (issue 28).
``--ensemble`` adds a row for those exports served as one ensemble (each flips every face).
"""

import argparse

from common import ROOT, timeit

import numpy as np

from ferapp.learning import data as fer_data
from ferapp.system import cpu_name, int8_dot_products
from ferapp.vision.classifier import FLIP_BELOW, FacialExpressionModel
from ferapp.vision.models import Ensemble

# (runtime, flip gate or None for no TTA, name)
CONFIGS = [("onnx", None, "fp32 (baseline)"), ("onnx", 1.0, "fp32 + flip all"),
           ("int8", None, "int8"), ("int8", 1.0, "int8 + flip all"),
           ("int8", FLIP_BELOW, f"int8 + flip below {FLIP_BELOW:g}")]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=200)
    p.add_argument("--data", default=str(fer_data.default_data_dir()))
    p.add_argument("--ensemble", nargs="+", default=None, metavar="EXPORT",
                   help="also time these exports served as one ensemble (int8)")
    args = p.parse_args()
    files = ROOT / "model.json", ROOT / "model_weights.h5"
    served = FacialExpressionModel(*files)  # what the app serves on this CPU
    models = {name + (" (served)" if (rt, gate) == (served.runtime, served.flip_below) else ""):
              FacialExpressionModel(*files, runtime=rt, flip_tta=gate is not None,
                                    flip_below=gate or 1.0)
              for rt, gate, name in CONFIGS}
    if args.ensemble:
        models[f"ensemble of {len(args.ensemble)}, int8 + flip"] = Ensemble(args.ensemble, "int8")
    rng = np.random.default_rng(0)
    try:
        pool, what = fer_data.load_split(args.data, "public")[0], "real PublicTest faces"
    except Exception:
        pool, what = rng.integers(0, 256, (4096, 48, 48), dtype=np.uint8), "random pixels"
    print(f"{cpu_name()}, int8 dot products: {'yes' if int8_dot_products() else 'no'}; "
          f"median of {args.repeat} calls, 1 ONNX Runtime thread; ms per face; {what}")
    print(f"{'configuration':<30}" + "".join(f"{f'{n} face' + 's' * (n > 1):>10}"
                                               for n in (1, 4, 16)) + f"{'vs baseline @4':>16}"
          + f"{'vs int8 + flip all @4':>23}")
    base4, today4 = None, {}
    for name, model in models.items():
        cells = []
        for n in (1, 4, 16):
            batches = iter(pool[rng.integers(0, len(pool), n)] for _ in range(10**6))
            cells.append(timeit(lambda m=model, b=batches: m.predict_scores(next(b)),
                                args.repeat) / n)
        base4 = base4 or cells[1]
        if name.startswith("int8 + flip all"):
            today4["ms"] = cells[1]
        vs_today = f"{today4['ms'] / cells[1]:>22.2f}x" if today4 else ""
        print(f"{name:<30}" + "".join(f"{c:>10.2f}" for c in cells)
              + f"{base4 / cells[1]:>15.2f}x" + vs_today)
    keras_model = served.keras_model
    x = pool[:4]
    t_served = timeit(lambda: served.predict_scores(x), args.repeat)
    t_predict = timeit(lambda: [keras_model.predict(x[i:i + 1, ..., None].astype("float32"),
                                                    verbose=0) for i in range(4)],
                       5, warmup=2)
    print(f"4 faces served {t_served:.2f} ms vs model.predict per face {t_predict:.1f} ms "
          f"({__import__('keras').backend.backend()}): {t_predict / t_served:.0f}x")


if __name__ == "__main__":
    main()
