"""ferapp.learning.network: every architecture under mixed precision keeps a float32 output."""

import numpy as np
import pytest

from ferapp.learning.architectures import ARCHITECTURES
from ferapp.learning.network import build_model, dtype_policy


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_architectures_under_mixed_precision_keep_a_float32_output(arch):
    import keras

    with dtype_policy("mixed_bfloat16"):
        model = build_model(arch)
    assert model.get_layer("conv1_1").compute_dtype == "bfloat16"
    assert model.get_layer("emotion").compute_dtype == "float32"
    probs = keras.ops.convert_to_numpy(model(np.zeros((2, 48, 48, 1), "float32")))
    assert probs.dtype == np.float32 and probs.shape == (2, 7)
    assert build_model(arch).get_layer("conv1_1").compute_dtype == "float32"
