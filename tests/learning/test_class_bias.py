"""ferapp.learning.class_bias: the bias search (mean and targets objectives) and its removal on
warm start."""

import json

import numpy as np
import pytest


def test_class_bias_lifts_the_weakest_class():
    from ferapp.learning.class_bias import apply_class_bias, tune_class_bias

    rng = np.random.default_rng(0)
    y = rng.integers(0, 7, 700)
    logits = rng.normal(0, 1, (700, 7))
    logits[np.arange(700), y] += 1.5
    logits[:, 2] -= 3.0  # class 2 (fear) is almost never predicted
    log_p = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    bias, report = tune_class_bias(log_p, y, None, min_recall=0.4)
    assert report["before"]["weakest_class"] == "fear"
    assert report["before"]["weakest_recall"] < 0.2 <= 0.4 <= report["after"]["weakest_recall"]
    assert bias[2] > 0
    _, off = tune_class_bias(log_p, y, None, min_recall=0.0)
    assert off["after"]["accuracy"] >= off["before"]["accuracy"]

    import keras

    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(7, activation="softmax", name="emotion")(inputs))
    x = np.ones((1, 3), "float32")
    before = np.asarray(model(x))
    apply_class_bias(model, np.log(np.arange(1, 8, dtype="float32")))
    after = np.asarray(model(x))
    ratio = (after / before)[0]
    np.testing.assert_allclose(ratio / ratio[0], np.arange(1, 8), rtol=1e-4)


def test_targets_objective_holds_the_floors_the_mean_gives_away():
    """Where FER+ prefers 'neutral' for faces the original labels call otherwise, the mean
    objective buys FER+ with original-label accuracy; the targets objective keeps every
    figure above its floor instead, with a margin."""
    from ferapp.learning.class_bias import tune_class_bias

    rng = np.random.default_rng(1)
    n = 4000
    y = rng.integers(0, 7, n)
    fp = y.copy()
    ambiguous = (rng.random(n) < 0.6) & (y != 6)
    fp[ambiguous] = 6  # FER+ annotators call these neutral
    logits = rng.normal(0, 1, (n, 7))
    logits[np.arange(n), y] += 2.0
    logits[ambiguous, 6] += 1.0
    logits[:, 2] -= 1.0  # fear is under-predicted
    log_p = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    _, mean = tune_class_bias(log_p, y, fp, min_recall=0.4)
    floors = (mean["after"]["accuracy"] + 0.02, mean["after"]["accuracy_ferplus"] - 0.04)
    _, targets = tune_class_bias(log_p, y, fp, min_recall=0.4, floors=floors)
    assert mean["objective"] == "mean"
    assert targets["objective"]["accuracy_floors"] == list(floors)
    after = targets["after"]
    assert mean["after"]["accuracy"] < floors[0] < after["accuracy"]  # the mean gave it away
    assert after["accuracy_ferplus"] > floors[1] and after["weakest_recall"] > 0.4


@pytest.mark.slow
def test_warm_start_takes_the_recorded_class_bias_out(tmp_path):
    """An export's weights carry its calibration bias; a warm start continues from the
    network as it learned (bias removed), while a plain checkpoint is loaded as it is."""
    import numpy as np

    from ferapp.learning import class_bias, trainer
    from ferapp.learning.network import build_model

    trained = build_model("compact")
    export = tmp_path / "export"
    export.mkdir()
    trained.save(export / "model_weights.h5")
    recorded = [-0.8, -1.5, -0.4, -0.1, -0.4, -0.4, 0.0]
    (export / "training.json").write_text(json.dumps({"class_bias": {"bias": recorded}}))
    served_bias = trained.get_layer("emotion").get_weights()[1]

    warm = build_model("compact")
    trainer.warm_start(warm, export)
    np.testing.assert_allclose(warm.get_layer("emotion").get_weights()[1],
                               served_bias - np.array(recorded), atol=1e-6)
    class_bias.apply_class_bias(warm, np.array(recorded))  # everything else is as trained
    for a, b in zip(warm.get_weights(), trained.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)

    (export / "model_weights.h5").rename(export / "checkpoint.h5")
    assert class_bias.recorded_class_bias(export / "checkpoint.h5") is None
    plain = build_model("compact")
    trainer.warm_start(plain, export / "checkpoint.h5")
    np.testing.assert_allclose(plain.get_layer("emotion").get_weights()[1], served_bias)
