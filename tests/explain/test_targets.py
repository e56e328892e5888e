import numpy as np
import pytest

from keras_egl._keras import tf
from keras_egl.explain.targets import class_weights, select_target

LOGITS = np.array([[1.0, 2.0, 0.5], [0.2, -1.0, 3.0]], np.float32)


def _log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def test_named_targets_match_numpy():
    lp = _log_softmax(LOGITS)
    np.testing.assert_allclose(select_target(LOGITS, "sum_log_prob"), lp.sum(-1), rtol=1e-5)
    np.testing.assert_allclose(select_target(LOGITS, "max_log_prob"), lp.max(-1), rtol=1e-5)
    np.testing.assert_allclose(select_target(LOGITS, "max_prob"), np.exp(lp).max(-1), rtol=1e-5)
    np.testing.assert_allclose(select_target(LOGITS, "sum_prob"), [1.0, 1.0], rtol=1e-5)


def test_probability_outputs_give_same_log_probs():
    probs = np.exp(_log_softmax(LOGITS))
    np.testing.assert_allclose(select_target(probs, "sum_log_prob", from_logits=False),
                               _log_softmax(LOGITS).sum(-1), rtol=1e-4)


def test_class_targets():
    np.testing.assert_allclose(select_target(LOGITS, "pred"), [2.0, 3.0])
    np.testing.assert_allclose(select_target(LOGITS, "true", y=np.array([0, 1])), [1.0, -1.0])
    np.testing.assert_allclose(select_target(LOGITS, 2), [0.5, 3.0])
    np.testing.assert_allclose(select_target(LOGITS, np.array([[0, 1, 0], [1, 0, 0]], np.float32)), [2.0, 0.2])
    np.testing.assert_allclose(select_target(LOGITS, "pred", quantity="log_prob"), _log_softmax(LOGITS).max(-1),
                               rtol=1e-5)


def test_binary_single_logit():
    z = np.array([[2.0], [-1.0]], np.float32)
    w = class_weights(tf.constant(z), "pred")
    np.testing.assert_array_equal(w.numpy(), [[0, 1], [1, 0]])
    # log-probs of a single logit are those of a sigmoid
    expected = np.log(1 / (1 + np.exp(-z[:, 0]))) + np.log(1 / (1 + np.exp(z[:, 0])))
    np.testing.assert_allclose(select_target(z, "sum_log_prob"), expected, rtol=1e-5)


@pytest.mark.parametrize("bad, match", [
    ("nope", "target"), (7, r"\[0, 3\)"), (np.zeros((2, 2, 2)), "target"),
])
def test_bad_targets(bad, match):
    with pytest.raises(ValueError, match=match):
        select_target(LOGITS, bad)


def test_true_needs_y_and_logit_needs_logits():
    with pytest.raises(ValueError, match="y"):
        select_target(LOGITS, "true")
    with pytest.raises(ValueError, match="logit"):
        select_target(LOGITS, "pred", from_logits=False, quantity="logit")
    with pytest.raises(ValueError, match="outputs"):
        select_target(np.zeros((2, 3, 1), np.float32), "pred")
    with pytest.raises(TypeError, match="outputs"):
        select_target(np.zeros((2, 3), np.int32), "pred")
