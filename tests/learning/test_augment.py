"""ferapp.learning.augment: batches of the right shape and targets, shuffled per epoch and
augmented, reproducible from the seed, untouched when augmentation is off."""

from __future__ import annotations

import numpy as np

from ferapp.learning.augment import AugmentedBatches
from ferapp.learning.config import TrainConfig


def faces(n=10):
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (n, 48, 48), dtype=np.uint8), rng.integers(0, 7, n)


def test_batches_shapes_targets_and_the_last_partial_batch():
    x, y = faces(10)
    batches = AugmentedBatches(x, y, TrainConfig(batch_size=4, seed=3))
    assert len(batches) == 3
    xb, yb = batches[0]
    assert xb.shape == (4, 48, 48, 1) and xb.dtype == np.float32 and yb.shape == (4, 7)
    assert np.allclose(yb.sum(1), 1)  # one-hot targets from int labels
    assert batches[2][0].shape[0] == 2
    dropped = AugmentedBatches(x, y, TrainConfig(batch_size=4), drop_remainder=True)
    assert len(dropped) == 2  # data parallel: every batch splits evenly


def test_augmentation_changes_faces_reproducibly_and_off_keeps_them():
    x, y = faces(8)
    cfg = TrainConfig(batch_size=8, seed=5, erase_prob=0.5)
    a, b = AugmentedBatches(x, y, cfg)[0][0], AugmentedBatches(x, y, cfg)[0][0]
    assert np.array_equal(a, b)  # same seed, same batch
    plain = AugmentedBatches(x, y, cfg, augment=False)[0][0][..., 0]
    assert np.array_equal(plain, x.astype("float32"))  # no shuffle, no change
    assert not np.array_equal(np.sort(a[..., 0].ravel()), np.sort(plain.ravel()))


def test_each_epoch_reshuffles():
    x, y = faces(32)
    batches = AugmentedBatches(x, y, TrainConfig(batch_size=32, seed=1))
    first = batches.order.copy()
    batches.on_epoch_end()
    assert sorted(batches.order) == list(range(32)) and not np.array_equal(first, batches.order)
