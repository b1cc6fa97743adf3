"""ferapp.learning.targets: one-hot and FER+ targets, class weights, and the teacher's
softened predictions."""

import numpy as np
import pytest

from ferapp.labels import EMOTIONS
from tests.helpers import row


def test_soft_targets_mix_one_hot_and_votes():
    from ferapp.learning.targets import make_targets

    y = np.array([EMOTIONS.index("fear"), EMOTIONS.index("sad")])
    votes = np.stack([row(surprise=10), np.full(10, -1)])
    t = make_targets(y, votes, 0.3)
    assert t[0, EMOTIONS.index("fear")] == pytest.approx(0.7)
    assert t[0, EMOTIONS.index("surprise")] == pytest.approx(0.3)
    assert t[1, EMOTIONS.index("sad")] == 1.0  # no votes: one-hot kept
    assert np.allclose(t.sum(1), 1)
    assert (make_targets(y, votes, 0.0) == np.eye(7)[y]).all()


def test_class_weights_weigh_faces_by_their_original_label_with_a_mean_of_one():
    from ferapp.learning.targets import sample_weights

    fear, sad = EMOTIONS.index("fear"), EMOTIONS.index("sad")
    y = np.array([fear, sad, sad, sad])
    w = sample_weights(y, {"fear": 2.0})
    assert w.dtype == np.float32 and w.mean() == pytest.approx(1.0)
    assert w[0] == pytest.approx(2 * w[1]) and len(set(w[1:])) == 1  # not named: weight 1
    assert sample_weights(y, None) is None and sample_weights(y, {}) is None
    with pytest.raises(ValueError, match="unknown class 'feer'"):
        sample_weights(y, {"feer": 2.0})
    with pytest.raises(ValueError, match="above 0"):
        sample_weights(y, {"fear": 0.0})


@pytest.mark.slow
def test_teacher_targets_remove_the_bias_average_the_mirror_and_soften(tmp_path):
    import numpy as np

    from ferapp.learning import class_bias, metrics, targets
    from ferapp.learning.export import export_artifacts
    from ferapp.learning.network import build_model

    teacher = build_model("compact")
    recorded = [-0.8, -1.5, -0.4, -0.1, -0.4, -0.4, 0.0]
    export_artifacts(teacher, tmp_path / "export", training={"class_bias": {"bias": recorded}},
                     onnx=False)
    faces = np.random.default_rng(0).integers(0, 256, (6, 48, 48), dtype=np.uint8)

    soft = targets.teacher_probs(tmp_path / "export", faces)
    class_bias.apply_class_bias(teacher, -np.array(recorded))  # the network as it learned
    log_p = (np.log(metrics.predict(teacher, faces) + 1e-7)
             + np.log(metrics.predict(teacher, faces[:, :, ::-1]) + 1e-7)) / 2
    expected = np.exp(log_p) / np.exp(log_p).sum(1, keepdims=True)
    np.testing.assert_allclose(soft, expected, atol=1e-5)

    hot = targets.teacher_probs(tmp_path / "export", faces, temperature=4.0)
    np.testing.assert_allclose(hot.sum(1), 1, atol=1e-5)
    assert (hot.max(1) < soft.max(1)).all() and (hot.argmax(1) == soft.argmax(1)).all()

    onehot = np.eye(7, dtype="float32")[[0, 3, 6, 1, 2, 5]]
    mixed = targets.mix_teacher(onehot, soft, 0.25)
    np.testing.assert_allclose(mixed, 0.75 * onehot + 0.25 * soft, atol=1e-6)
    assert targets.mix_teacher(onehot, None, 0.25) is onehot
