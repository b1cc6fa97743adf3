"""ferapp.learning.augment: batches of the right shape and targets, shuffled per epoch and
augmented, reproducible from the seed, untouched when augmentation is off."""

from __future__ import annotations

from dataclasses import replace

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


def test_photo_degradation_blurs_darkens_or_compresses_a_real_face_reproducibly(grace_hopper):
    import cv2

    from ferapp.learning.augment import photo_degrade

    face = cv2.resize(cv2.cvtColor(grace_hopper, cv2.COLOR_BGR2GRAY)[40:440, 60:460], (48, 48))
    outs = [photo_degrade(face, np.random.default_rng(s)) for s in range(40)]
    assert all(o.shape == face.shape and o.dtype == np.uint8 for o in outs)
    assert all(not np.array_equal(o, face) for o in outs)  # at least one change each time
    np.testing.assert_array_equal(photo_degrade(face, np.random.default_rng(3)), outs[3])

    def sharpness(img):
        return cv2.Laplacian(img, cv2.CV_64F).var()

    means = [o.mean() for o in outs]
    assert min(means) < 0.7 * face.mean()  # some in low light
    assert np.median([sharpness(o) / sharpness(face) for o in outs]) < 1.5  # not sharper
    assert min(sharpness(o) for o in outs) < 0.5 * sharpness(face)  # some blurred
    x, y = faces(8)
    cfg = TrainConfig(batch_size=8, seed=5, photo_prob=1.0, rotation_deg=0, shift=0,
                      zoom=0, flip=False)
    for prob in (0.0, 1.0):  # with every other augmentation off, only this changes faces
        batches = AugmentedBatches(x, y, replace(cfg, photo_prob=prob))
        got = batches[0][0][..., 0]
        assert np.array_equal(got, x[batches.order[:8]]) == (prob == 0.0)


def test_sample_weights_follow_their_faces_through_the_shuffle_and_reach_the_loss():
    import keras
    import pytest

    x, y = faces(12)
    w = np.arange(12, dtype="float32")
    batches = AugmentedBatches(x, y, TrainConfig(batch_size=5, seed=2), sample_weight=w)
    for i in range(len(batches)):
        _, yb, wb = batches[i]
        idx = batches.order[i * 5:(i + 1) * 5]
        np.testing.assert_array_equal(wb, w[idx])
        np.testing.assert_array_equal(yb.argmax(1), y[idx])
    assert len(AugmentedBatches(x, y, TrainConfig(batch_size=5))[0]) == 2  # no weights
    with pytest.raises(ValueError, match="sample_weight has shape"):
        AugmentedBatches(x, y, TrainConfig(), sample_weight=w[:5])

    # Keras weighs the loss by them: faces of weight 0 do not count at all
    model = keras.Sequential([keras.Input((48, 48, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(7)])
    model.compile(loss=keras.losses.CategoricalCrossentropy(from_logits=True))
    only = np.where(y == y[0], 1.0, 0.0).astype("float32")
    data = AugmentedBatches(x, y, TrainConfig(batch_size=12), augment=False, sample_weight=only)
    xb, yb, wb = data[0]
    per_face = keras.losses.CategoricalCrossentropy(from_logits=True, reduction=None)(
        yb, model(xb)).numpy()
    assert model.evaluate(data, verbose=0) == pytest.approx(
        float((per_face * wb).sum() / len(wb)), rel=1e-5)


def test_mixup_blends_faces_targets_and_weights_in_one_proportion_and_off_keeps_them():
    # seven faces, every other augmentation off: face k is uniformly 20 + 10 k, label k,
    # loss weight k + 1, so each blend can be read back from its target
    x = np.repeat(np.arange(20, 90, 10, dtype=np.uint8), 48 * 48).reshape(7, 48, 48)
    y, w = np.arange(7), np.arange(1, 8, dtype="float32")
    cfg = TrainConfig(batch_size=7, seed=4, rotation_deg=0, shift=0, zoom=0, flip=False)
    plain = AugmentedBatches(x, y, cfg, sample_weight=w)
    xb, yb, wb = plain[0]
    np.testing.assert_array_equal(xb[:, 0, 0, 0], 20 + 10 * plain.order)  # mixup 0: as is
    np.testing.assert_array_equal(yb.argmax(1), plain.order)

    blended = 0
    for epoch in range(5):
        mixed = AugmentedBatches(x, y, replace(cfg, mixup=0.4, seed=epoch), sample_weight=w)
        xb, yb, wb = mixed[0]
        assert np.allclose(xb, xb[:, :1, :1, :])  # a blend of two uniform faces
        for face, target, weight, k in zip(xb[:, 0, 0, 0], yb, wb, mixed.order, strict=True):
            assert np.isclose(target.sum(), 1) and np.count_nonzero(target) <= 2
            lam = target[k]  # its own face keeps the larger share
            assert lam >= 0.5 - 1e-6 and target.argmax() == k or np.isclose(lam, 0.5)
            other = k if lam > 1 - 1e-6 else np.argsort(target)[-2]
            if other == k:
                assert np.isclose(face, 20 + 10 * k) and np.isclose(weight, w[k])
                continue
            assert np.isclose(face, lam * (20 + 10 * k) + (1 - lam) * (20 + 10 * other),
                              atol=1e-3)
            assert np.isclose(weight, lam * w[k] + (1 - lam) * w[other], atol=1e-5)
            blended += 1
        again = AugmentedBatches(x, y, replace(cfg, mixup=0.4, seed=epoch), sample_weight=w)
        np.testing.assert_array_equal(again[0][0], xb)  # reproducible from the seed
    assert blended >= 20  # most faces are blended with another (some with themselves)


def test_the_teacher_sees_the_students_own_augmented_view(tiny_model_dir):
    """Consistent teaching: every training batch's faces, as augmented (and mixed), are
    what the teacher is given, and its probabilities take their share of the targets; the
    real ViewTeacher gives the served export's probabilities with its class bias out."""
    from ferapp.learning.augment import AugmentedBatches
    from ferapp.learning.config import TrainConfig
    from ferapp.learning.targets import ViewTeacher, mix_teacher
    from ferapp.vision.classifier import load_export

    seen = []

    def teacher(faces, targets):
        seen.append(faces.copy())
        return mix_teacher(targets, np.full_like(targets, 1 / 7), 0.5)

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (20, 48, 48), dtype=np.uint8)
    cfg = TrainConfig(batch_size=8, rotation_deg=15, erase_prob=0.5, mixup=0.2, seed=3)
    batches = AugmentedBatches(x, rng.integers(0, 7, 20), cfg, teacher=teacher)
    faces, targets = batches[0]
    assert np.array_equal(seen[0], faces[..., 0])  # exactly the student's view
    assert not np.array_equal(faces[..., 0], x[batches.order[:8]].astype("float32"))
    assert np.allclose(targets.sum(1), 1) and (targets >= 0.5 / 7 - 1e-6).all()
    clean = AugmentedBatches(x, rng.integers(0, 7, 20), cfg, augment=False, teacher=teacher)
    clean[0]
    assert len(seen) == 1  # PublicTest-style batches are not taught

    real = ViewTeacher(tiny_model_dir, temperature=1.0, share=1.0)
    probs = real.probs(faces[..., 0])
    served = load_export(tiny_model_dir, flip_tta=False).predict_scores(faces[..., 0])
    assert probs.shape == (8, 7) and np.allclose(probs.sum(1), 1, atol=1e-5)
    assert np.allclose(probs, served / served.sum(1, keepdims=True), atol=1e-4)  # no bias
