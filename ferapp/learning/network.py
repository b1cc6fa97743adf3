"""The CNN architectures: 4 convolution blocks (plain, residual or depthwise separable),
2 fully connected layers, 7-way softmax.

Backend-agnostic Keras 3 (no ``tf.*``). Preprocessing lives in the model: it takes raw
uint8-range grayscale faces (N, 48, 48, 1) and rescales them itself, so serving code
cannot drift from training normalisation.
"""

from __future__ import annotations

from contextlib import contextmanager

import keras
from keras import layers

from ferapp.labels import EMOTIONS
from ferapp.learning.architectures import ARCHITECTURES, RESIDUAL, SEPARABLE


@contextmanager
def dtype_policy(name: str):
    """Keras' global dtype policy set to ``name`` inside the block, restored after it."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def build_model(arch: str = "compact", input_size: int = 48, dropout: float = 0.4,
                conv_dropout: float = 0.0, bn_momentum: float = 0.9):
    """Build an uncompiled functional model for one of ARCHITECTURES.

    BatchNorm momentum 0.9 (not Keras' 0.99) keeps the inference statistics close to the
    fast-moving weights of a short schedule; dropout sits in the dense head. The layers take
    Keras' global dtype policy (``TrainConfig.precision``), except the float32 output layer.
    """
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; choose from {list(ARCHITECTURES)}")
    blocks, dense = ARCHITECTURES[arch]
    residual = arch in RESIDUAL
    separable = arch in SEPARABLE
    inputs = keras.Input((input_size, input_size, 1), name="face")
    x = layers.Rescaling(1.0 / 255, name="rescale")(inputs)
    for b, (filters, kernel, convs) in enumerate(blocks, start=1):
        for c in range(1, convs + 1):
            if c % 2:
                unit_in = x  # the input of this pair of convolutions
            conv = layers.SeparableConv2D if separable and (b, c) != (1, 1) else layers.Conv2D
            x = conv(filters, kernel, padding="same", use_bias=False, name=f"conv{b}_{c}")(x)
            x = layers.BatchNormalization(momentum=bn_momentum, name=f"bn{b}_{c}")(x)
            if residual and c % 2 == 0:
                x = layers.Add(name=f"add{b}_{c // 2}")(
                    [x, _shortcut(unit_in, filters, f"proj{b}_{c // 2}", bn_momentum)])
            x = layers.Activation("relu", name=f"relu{b}_{c}")(x)
        x = layers.MaxPooling2D(2, name=f"pool{b}")(x)
        if conv_dropout:
            x = layers.Dropout(conv_dropout, name=f"drop{b}")(x)
    x = layers.Flatten(name="flatten")(x)
    for d, width in enumerate(dense, start=1):
        x = layers.Dense(width, use_bias=False, name=f"fc{d}")(x)
        x = layers.BatchNormalization(momentum=bn_momentum, name=f"fc{d}_bn")(x)
        x = layers.Activation("relu", name=f"fc{d}_relu")(x)
        x = layers.Dropout(dropout, name=f"fc{d}_drop")(x)
    # float32 whatever the global dtype policy: a softmax and its loss need the precision
    outputs = layers.Dense(len(EMOTIONS), activation="softmax", name="emotion",
                           dtype="float32")(x)
    return keras.Model(inputs, outputs, name=f"fer_{arch}")


def _shortcut(x, filters: int, name: str, bn_momentum: float):
    """A residual unit's input as it is added: itself, or projected by a 1x1 convolution
    and batch norm when its width differs from the unit's."""
    if x.shape[-1] == filters:
        return x
    x = layers.Conv2D(filters, 1, use_bias=False, name=name)(x)
    return layers.BatchNormalization(momentum=bn_momentum, name=f"{name}_bn")(x)
