"""Count exact duplicate images in FER-2013, within Training and shared with the test splits.

    python bench/duplicates.py [--data DIR]

Two images are duplicates when their decoded 48x48 pixels are identical. Test images that
also occur in Training inflate accuracy slightly (the network may have seen them); they are
counted and reported, never dropped, so our figures stay comparable with the literature.
"""

import argparse
import hashlib
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from ferapp.labels import EMOTIONS  # noqa: E402
from ferapp.learning import data as fer_data  # noqa: E402


def digests(x: np.ndarray) -> list[str]:
    return [hashlib.sha1(np.ascontiguousarray(img).tobytes()).hexdigest() for img in x]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(fer_data.default_data_dir()))
    args = p.parse_args(argv)
    try:
        data = {s: fer_data.load_split(args.data, s) for s in ("train", "public", "private")}
    except fer_data.DataError as exc:
        print(f"duplicates.py: error: {exc}", file=sys.stderr)
        return 2
    hashes = {s: digests(x) for s, (x, _) in data.items()}
    train_counts = Counter(hashes["train"])
    train_labels: dict[str, set] = {}
    for h, label in zip(hashes["train"], data["train"][1], strict=True):
        train_labels.setdefault(h, set()).add(int(label))
    extra = sum(c - 1 for c in train_counts.values() if c > 1)
    print(f"Training: {len(hashes['train'])} images, {len(train_counts)} distinct; "
          f"{extra} are extra copies of another Training image")
    for split, name in (("public", "PublicTest"), ("private", "PrivateTest")):
        hs, ys = hashes[split], data[split][1]
        shared = [i for i, h in enumerate(hs) if h in train_counts]
        differ = sum(1 for i in shared if int(ys[i]) not in train_labels[hs[i]])
        by_class = Counter(EMOTIONS[int(ys[i])] for i in shared)
        print(f"{name}: {len(shared)} of {len(hs)} images ({len(shared) / len(hs):.1%}) also in "
              f"Training; {differ} of them with a different label there; by class "
              + ", ".join(f"{e} {by_class.get(e, 0)}" for e in EMOTIONS))
    both = set(hashes["public"]) & set(hashes["private"])
    print(f"PublicTest and PrivateTest share {len(both)} distinct images")
    return 0


if __name__ == "__main__":
    sys.exit(main())
