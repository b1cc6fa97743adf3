"""Per-face classification: our inference path vs Keras' model.predict once per face.

    python bench/bench_classify.py [--repeat N]
"""

import argparse

import numpy as np

from common import ROOT, timeit

from model import FacialExpressionModel


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=30)
    args = p.parse_args()
    ours = FacialExpressionModel(ROOT / "model.json", ROOT / "model_weights.h5")
    keras_model = ours.keras_model
    rng = np.random.default_rng(0)
    print(f"model runtime: {ours.runtime}; model.predict baseline on the Keras "
          f"{__import__('keras').backend.backend()} backend")
    print(f"{'faces':>5} {'ours ms':>9} {'ours ms/face':>13} {'predict ms':>11} "
          f"{'predict ms/face':>16} {'speed-up':>9}")
    for n in (1, 4, 16):
        faces = rng.integers(0, 256, (n, 48, 48), dtype=np.uint8)
        x = faces[..., None].astype("float32")
        t_ours = timeit(lambda: ours.predict_scores(faces), args.repeat)
        t_base = timeit(lambda: [keras_model.predict(x[i:i + 1], verbose=0) for i in range(n)],
                        max(3, args.repeat // 5), warmup=2)
        print(f"{n:>5} {t_ours:>9.2f} {t_ours / n:>13.2f} {t_base:>11.1f} {t_base / n:>16.1f} "
              f"{t_base / t_ours:>8.0f}x")


if __name__ == "__main__":
    main()
