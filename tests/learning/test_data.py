"""ferapp.learning.data: the FER-2013 folder loader, its cache and its errors."""

import numpy as np
import pytest

from ferapp.labels import EMOTIONS
from ferapp.learning import data as fer_data


def _make_tree(root, files_per_class=2, skip=()):
    import cv2

    for sub, prefixes in (("train", ["Training_"]), ("test", ["PublicTest_", "PrivateTest_"])):
        for i, emotion in enumerate(sorted(EMOTIONS)):  # folder order is alphabetical
            d = root / sub / emotion
            d.mkdir(parents=True)
            if emotion in skip:
                continue
            for prefix in prefixes:
                for k in range(files_per_class):
                    img = np.full((48, 48), 10 * i + k, np.uint8)
                    cv2.imwrite(str(d / f"{prefix}{i}{k}.jpg"), img)


def test_labels_follow_canonical_order_not_folder_order(tmp_path):
    _make_tree(tmp_path)
    items = fer_data.list_split(tmp_path, "train")
    by_label = {label: path.parent.name for path, label in items}
    assert [by_label[i] for i in range(7)] == list(EMOTIONS)
    assert EMOTIONS.index("neutral") == 6 and sorted(EMOTIONS).index("neutral") == 4


def test_test_folder_split_by_prefix(tmp_path):
    _make_tree(tmp_path)
    public = fer_data.list_split(tmp_path, "public")
    private = fer_data.list_split(tmp_path, "private")
    assert all(p.name.startswith("PublicTest_") for p, _ in public)
    assert all(p.name.startswith("PrivateTest_") for p, _ in private)
    assert len(public) == len(private) == 14


def test_load_split_decodes_and_caches(tmp_path):
    _make_tree(tmp_path / "data")
    x, y = fer_data.load_split(tmp_path / "data", "public", cache_dir=tmp_path / "cache")
    assert x.shape == (14, 48, 48) and x.dtype == np.uint8
    assert list(np.bincount(y)) == [2] * 7
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 1
    x2, y2 = fer_data.load_split(tmp_path / "data", "public", cache_dir=tmp_path / "cache")
    assert (x2 == x).all() and (y2 == y).all()


def test_rewritten_image_invalidates_the_cache(tmp_path):
    """Images replaced under the same names (the sharp Training copy) are decoded anew."""
    import os

    import cv2

    _make_tree(tmp_path / "data")
    cache = tmp_path / "cache"
    x, _ = fer_data.load_split(tmp_path / "data", "public", cache_dir=cache)
    target = sorted((tmp_path / "data" / "test" / "angry").glob("PublicTest_*"))[0]
    st = os.stat(target)
    cv2.imwrite(str(target), np.full((48, 48), 200, np.uint8))  # same name, new pixels
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    x2, _ = fer_data.load_split(tmp_path / "data", "public", cache_dir=cache)
    assert abs(int(x2[0].mean()) - 200) <= 2 and abs(int(x[0].mean()) - 200) > 50
    assert len(list(cache.glob("*.npz"))) == 2  # a new key, not the stale arrays


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda root: None, "no folder"),
        (lambda root: _make_tree(root, skip=("disgust",)), "has no Training_"),
    ],
)
def test_bad_data_folder_gives_clear_error(tmp_path, setup, message):
    setup(tmp_path)
    with pytest.raises(fer_data.DataError, match=message):
        fer_data.list_split(tmp_path, "train")


def test_corrupt_image_names_the_file(tmp_path):
    _make_tree(tmp_path / "data")
    bad = next((tmp_path / "data" / "test" / "fear").glob("PublicTest_*"))
    bad.write_bytes(b"not a jpeg")
    with pytest.raises(fer_data.DataError, match=bad.name):
        fer_data.load_split(tmp_path / "data", "public", cache_dir=tmp_path / "c")


def test_real_dataset_split_sizes(data_dir):
    assert len(fer_data.list_split(data_dir, "public")) == 3589
    assert len(fer_data.list_split(data_dir, "private")) == 3589
