import numpy as np
import pytest

from keras_egl._keras import keras, tf
from keras_egl.regularizers.group_lasso import (SlidingWindowGroupLasso, feature_importance,
                                                sliding_window_group_lasso)


def _hand(w, window, separate=False):
    """Reference: explicit loops over windows, features (and streams)."""
    t = w.shape[0]
    win = min(window, t)
    total = 0.0
    for s in range(0, t - win + 1):
        block = w[s:s + win]
        for i in range(w.shape[1]):
            if separate:
                for k in range(w.shape[2]):
                    total += np.linalg.norm(block[:, i, k].ravel())
            else:
                total += np.linalg.norm(block[:, i].ravel())
    return total


def test_value_matches_hand_computation_small_kernel():
    # T=3, D=2, H=1; window 2 -> windows {0,1} and {1,2}.
    w = np.array([[[3.0], [0.0]], [[4.0], [1.0]], [[0.0], [2.0]]], np.float32)
    # feature 0: ||(3,4)|| + ||(4,0)|| = 5 + 4; feature 1: ||(0,1)|| + ||(1,2)|| = 1 + sqrt(5)
    expected = 0.5 * (5 + 4 + 1 + np.sqrt(5))
    reg = SlidingWindowGroupLasso(beta=0.5, window=2)
    assert float(reg(tf.constant(w))) == pytest.approx(expected, rel=1e-6)


def test_gradient_matches_hand_computation():
    w = np.array([[[3.0], [0.0]], [[4.0], [1.0]], [[0.0], [2.0]]], np.float32)
    beta = 0.5
    v = tf.Variable(w)
    with tf.GradientTape() as tape:
        loss = SlidingWindowGroupLasso(beta=beta, window=2)(v)
    g = tape.gradient(loss, v).numpy()
    # d/dW[t,i] = beta * sum_{windows containing t} W[t,i] / ||group||
    exp = np.zeros_like(w)
    exp[0, 0] = beta * 3 / 5
    exp[1, 0] = beta * (4 / 5 + 4 / 4)
    exp[2, 0] = beta * (0 / 4)
    exp[0, 1] = 0.0
    exp[1, 1] = beta * (1 / 1 + 1 / np.sqrt(5))
    exp[2, 1] = beta * (2 / np.sqrt(5))
    np.testing.assert_allclose(g, exp, rtol=1e-5, atol=1e-7)


def test_random_kernel_against_loops_and_finite_differences():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(7, 4, 2, 3)).astype(np.float64)
    for sep in (False, True):
        val = float(sliding_window_group_lasso(tf.constant(w), window=3, separate_streams=sep))
        assert val == pytest.approx(_hand(w, 3, sep), rel=1e-9)
    v = tf.Variable(w)
    with tf.GradientTape() as tape:
        loss = sliding_window_group_lasso(v, window=3)
    g = tape.gradient(loss, v).numpy()
    eps = 1e-6
    for idx in [(0, 0, 0, 0), (3, 2, 1, 2), (6, 3, 0, 1)]:
        wp, wm = w.copy(), w.copy()
        wp[idx] += eps
        wm[idx] -= eps
        fd = (_hand(wp, 3) - _hand(wm, 3)) / (2 * eps)
        assert g[idx] == pytest.approx(fd, rel=1e-5)


def test_zero_group_has_zero_subgradient_not_nan():
    v = tf.Variable(tf.zeros([4, 3, 2]))
    with tf.GradientTape() as tape:
        loss = SlidingWindowGroupLasso(beta=1.0, window=2)(v)
    g = tape.gradient(loss, v)
    assert float(loss) == 0.0
    assert np.all(np.isfinite(g.numpy())) and np.all(g.numpy() == 0)


def test_l2_term_and_window_clipping_and_stride():
    w = tf.constant(np.arange(1, 7, dtype=np.float32).reshape(3, 2, 1))
    reg = SlidingWindowGroupLasso(beta=0.0, l2=0.1)
    assert float(reg(w)) == pytest.approx(0.1 * 0.5 * float(np.sum(np.arange(1, 7) ** 2)), rel=1e-6)
    # window 12 > T = 3: one window over all steps
    val = float(sliding_window_group_lasso(w, window=12))
    assert val == pytest.approx(np.linalg.norm([1, 3, 5]) + np.linalg.norm([2, 4, 6]), rel=1e-6)
    # stride 2 with window 1: steps 0 and 2 only
    val = float(sliding_window_group_lasso(w, window=1, stride=2))
    assert val == pytest.approx(1 + 2 + 5 + 6, rel=1e-6)


def test_config_round_trip_and_bad_args():
    reg = SlidingWindowGroupLasso(beta=1e-3, window=6, stride=2, separate_streams=True, l2=1e-4)
    again = keras.regularizers.deserialize(keras.regularizers.serialize(reg))
    assert isinstance(again, SlidingWindowGroupLasso)
    assert again.get_config() == reg.get_config()
    w = tf.random.normal([8, 3, 2, 4], seed=1)
    assert float(again(w)) == pytest.approx(float(reg(w)), rel=1e-6)
    with pytest.raises(ValueError, match="window"):
        SlidingWindowGroupLasso(window=0)
    with pytest.raises(ValueError, match="beta"):
        SlidingWindowGroupLasso(beta=-1.0)
    with pytest.raises(ValueError, match="separate_streams"):
        sliding_window_group_lasso(tf.ones([3, 2, 4]), separate_streams=True)
    with pytest.raises(ValueError, match="kernel"):
        sliding_window_group_lasso(tf.ones([3]))


def test_feature_importance():
    w = np.zeros((2, 3, 2, 1), np.float32)
    w[0, 1] = [[3.0], [4.0]]
    w[1, 2] = [[1.0], [0.0]]
    per_t = feature_importance(w).numpy()
    np.testing.assert_allclose(per_t, [[0, 5, 0], [0, 0, 1]])
    np.testing.assert_allclose(feature_importance(w, per_time=False).numpy(), [0, 5, 1])
