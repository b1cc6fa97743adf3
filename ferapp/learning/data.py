"""FER-2013 folder loader: official splits by file-name prefix, labels in EMOTIONS order.

The data folder has the Kaggle layout (``train/<class>/Training_*.jpg``,
``test/<class>/PublicTest_*.jpg`` and ``PrivateTest_*.jpg``). Folder names sort
alphabetically (angry, disgust, fear, happy, neutral, sad, surprise), which is *not*
the canonical label order, so every label is mapped through ``EMOTIONS.index``.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import cv2
import numpy as np

from ferapp.labels import EMOTIONS
from ferapp.learning import ferplus
from ferapp.system import SHARED_DATA, atomic_path

log = logging.getLogger(__name__)

# split name -> (sub-folder, file-name prefix); the protocol of the data README:
# train on Training, select on PublicTest, report PrivateTest.
SPLITS = {
    "train": ("train", "Training_"),
    "public": ("test", "PublicTest_"),
    "private": ("test", "PrivateTest_"),
}
IMAGE_SIZE = 48


class DataError(Exception):
    """The data folder is missing, incomplete or holds an unreadable image."""


def default_data_dir() -> Path:
    """Return $FER_DATA, else ../shared/data/fer2013 beside the checkout."""
    env = os.environ.get("FER_DATA")
    if env:
        return Path(env)
    return SHARED_DATA / "fer2013"


def list_split(data_dir: str | Path, split: str) -> list[tuple[Path, int]]:
    """List (path, label index) for one split, sorted by path for reproducibility."""
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    data_dir = Path(data_dir)
    sub, prefix = SPLITS[split]
    root = data_dir / sub
    if not root.is_dir():
        raise DataError(
            f"no folder {root}: point --data (or FER_DATA) at a FER-2013 copy with "
            "train/ and test/ class folders (see README, 'Data')"
        )
    found = {p.name for p in root.iterdir() if p.is_dir()}
    missing = [e for e in EMOTIONS if e not in found]
    if missing:
        raise DataError(f"{root} lacks class folders: {', '.join(missing)}")
    items: list[tuple[Path, int]] = []
    for label, emotion in enumerate(EMOTIONS):
        files = sorted((root / emotion).glob(f"{prefix}*"))
        if not files:
            raise DataError(f"class folder {root / emotion} has no {prefix}* images")
        items.extend((f, label) for f in files)
    return items


def _read_gray(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if img is None:
        raise DataError(f"cannot decode image {path}")
    if img.shape != (IMAGE_SIZE, IMAGE_SIZE):
        img = cv2.resize(img, (IMAGE_SIZE, IMAGE_SIZE), interpolation=cv2.INTER_AREA)
    return img


def default_cache_dir() -> Path:
    """Where decoded arrays are cached (outside the repo's tracked files)."""
    return Path(os.environ.get("FER_CACHE", Path.home() / ".cache" / "fer-app"))


def _select(items: list[tuple[Path, int]], limit: int | None) -> list[tuple[Path, int]]:
    """An evenly spaced subset of at most ``limit`` items (all when limit is None)."""
    if limit is not None and limit < len(items):
        idx = np.linspace(0, len(items) - 1, limit).astype(int)
        items = [items[i] for i in idx]
    return items


def cache_key(items: list[tuple[Path, int]]) -> str:
    """A key that changes when a file is added, removed, relabelled or rewritten.

    It hashes each file's path and label with its size and modification time (ns), so a
    copy replaced under the same names (as the sharp Training images were) is re-decoded.
    """
    h = hashlib.sha1()
    for p, label in items:
        st = os.stat(p)
        h.update(f"{p}\t{label}\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def load_split(
    data_dir: str | Path,
    split: str,
    limit: int | None = None,
    cache_dir: str | Path | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Decode one split into uint8 images (N, 48, 48) and int labels (N,).

    ``limit`` keeps an evenly spaced subset of at most ``limit`` images (smoke runs).
    Full decodes are cached as .npz under a key of the file list and each file's size
    and modification time (``cache_key``), so a changed folder is never served stale.
    """
    items = _select(list_split(data_dir, split), limit)
    key = cache_key(items)
    cache = Path(cache_dir or default_cache_dir()) / f"{split}-{len(items)}-{key}.npz"
    if cache.exists():
        with np.load(cache) as z:
            return z["x"], z["y"]
    x = np.stack([_read_gray(p) for p, _ in items])
    y = np.array([label for _, label in items], dtype=np.int64)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(cache) as tmp:
            np.savez(tmp, x=x, y=y)
    except OSError as exc:  # a read-only home must not stop training
        log.warning("could not cache %s: %s", cache, exc)
    return x, y


def load_votes(data_dir: str | Path, split: str, limit: int | None = None,
               votes_path: str | Path | None = None,
               required: bool = True) -> np.ndarray | None:
    """FER+ votes (N, 10) in the order of ``load_split``; rows of -1 for unlabelled images.

    The votes file is ``votes_path``, else ``ferplus_votes.csv`` in the data folder. A
    missing file gives None unless ``required``; a malformed one always raises
    ferplus.FerPlusError (as does a missing one when ``required``).
    """
    path = Path(votes_path or ferplus.default_votes_path(data_dir))
    if not path.exists() and not required:
        log.info("no FER+ votes at %s: original labels only", path)
        return None
    items = _select(list_split(data_dir, split), limit)
    votes = ferplus.read_votes(path, data_dir)
    return ferplus.votes_for([p for p, _ in items], data_dir, votes)


def ferplus_labels(data_dir: str | Path, split: str, limit: int | None = None,
                   votes_path: str | Path | None = None,
                   required: bool = False) -> np.ndarray | None:
    """FER+ majority labels (-1: left out) in load_split order, or None without votes."""
    votes = load_votes(data_dir, split, limit, votes_path, required)
    return None if votes is None else ferplus.majority_labels(votes)


def class_counts(labels: np.ndarray) -> dict[str, int]:
    """Count images per emotion, in EMOTIONS order."""
    counts = np.bincount(labels, minlength=len(EMOTIONS))
    return {e: int(c) for e, c in zip(EMOTIONS, counts, strict=True)}
