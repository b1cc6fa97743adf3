"""ferapp.learning.averaging: weight averaging and the batch-norm statistics after it."""

import keras
import numpy as np
import pytest

from ferapp.learning.averaging import average_weights, mean_weights, recompute_bn_statistics


def _net(seed):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((4, 4, 1))
    x = keras.layers.Conv2D(3, 3, padding="same", use_bias=False, name="conv")(inputs)
    x = keras.layers.BatchNormalization(momentum=0.9, name="bn")(x)
    x = keras.layers.Flatten()(x)
    return keras.Model(inputs, keras.layers.Dense(2, name="out")(x))


def test_average_weights_is_the_elementwise_mean(tmp_path):
    files, weights = [], []
    for seed in (1, 2, 3):
        net = _net(seed)
        weights.append(net.get_weights())
        files.append(tmp_path / f"w{seed}.weights.h5")
        net.save_weights(files[-1])
    target = _net(9)
    average_weights(target, files)
    for got, *parts in zip(target.get_weights(), *weights, strict=True):
        np.testing.assert_allclose(got, np.mean(parts, axis=0), rtol=1e-6, atol=1e-7)


def test_mean_weights_refuses_other_shapes():
    a = [np.ones((3, 3)), np.zeros(2)]
    assert [w.dtype for w in mean_weights([a, a])] == ["float32", "float32"]
    with pytest.raises(ValueError, match="different shapes"):
        mean_weights([a, [np.ones((3, 4)), np.zeros(2)]])


def test_bn_statistics_are_the_average_over_all_batches():
    net = _net(4)
    x = np.random.default_rng(0).uniform(0, 255, (40, 4, 4)).astype("float32")
    recompute_bn_statistics(net, x, batch_size=10, seed=0)
    conv = keras.Model(net.input, net.get_layer("conv").output)
    acts = keras.ops.convert_to_numpy(conv(x[..., None]))
    bn = net.get_layer("bn")
    # every batch has the same size, so the mean of batch means is the overall mean
    np.testing.assert_allclose(keras.ops.convert_to_numpy(bn.moving_mean),
                               acts.mean(axis=(0, 1, 2)), rtol=1e-4)
    assert bn.momentum == pytest.approx(0.9)  # restored for later training
