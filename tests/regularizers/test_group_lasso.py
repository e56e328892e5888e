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


# --- proximal operator ---------------------------------------------------------------

from keras_egl.regularizers.group_lasso import (proximal_group_lasso_step,  # noqa: E402
                                                sliding_window_group_prox)


def test_prox_single_non_overlapping_group_is_block_soft_thresholding():
    # T = 2 = w: one window; feature 0's group (3, 4) has norm 5, feature 1's (0.3, 0.4) has 0.5.
    w = np.array([[[3.0], [0.3]], [[4.0], [0.4]]], np.float32)
    out = sliding_window_group_prox(tf.constant(w), threshold=1.0, window=2).numpy()
    # By hand: (3, 4) * (1 - 1/5) = (2.4, 3.2); ||(0.3, 0.4)|| = 0.5 <= 1 -> exactly 0.
    np.testing.assert_allclose(out[:, 0, 0], [2.4, 3.2], rtol=1e-6)
    assert np.all(out[:, 1] == 0.0)


def test_prox_non_overlapping_windows_are_exact_and_independent():
    rng = np.random.default_rng(3)
    w = rng.normal(size=(6, 5, 2, 3)).astype(np.float64)
    tau = 0.7
    out = sliding_window_group_prox(tf.constant(w), tau, window=2, stride=2).numpy()
    for s in (0, 2, 4):
        for i in range(5):
            blk = w[s:s + 2, i]
            n = np.linalg.norm(blk)
            np.testing.assert_allclose(out[s:s + 2, i], blk * max(0.0, 1 - tau / n), rtol=1e-12)
    # Exact prox: it minimises tau * sum ||X_g|| + ||X - W||^2 / 2 (check against perturbations).
    def obj(x):
        return tau * sum(np.linalg.norm(x[s:s + 2, i]) for s in (0, 2, 4) for i in range(5)) \
            + 0.5 * np.sum((x - w) ** 2)
    base = obj(out)
    for _ in range(20):
        assert obj(out + 1e-3 * rng.normal(size=w.shape)) >= base - 1e-12


def test_prox_separate_streams_thresholds_each_stream():
    w = np.zeros([1, 1, 2, 2], np.float32)
    w[0, 0, 0] = [3.0, 4.0]   # norm 5
    w[0, 0, 1] = [0.6, 0.8]   # norm 1
    out = sliding_window_group_prox(tf.constant(w), 2.0, window=1, separate_streams=True).numpy()
    np.testing.assert_allclose(out[0, 0, 0], [1.8, 2.4], rtol=1e-6)
    assert np.all(out[0, 0, 1] == 0)
    # one joint group: norm sqrt(26) > 2 -> nothing is zeroed
    joint = sliding_window_group_prox(tf.constant(w), 2.0, window=1).numpy()
    np.testing.assert_allclose(joint, w * (1 - 2 / np.sqrt(26)), rtol=1e-6)


def test_prox_overlapping_windows_is_the_sequential_composition():
    w = np.array([[[3.0], [0.0]], [[4.0], [1.0]], [[0.0], [2.0]]], np.float32)
    tau = 0.5
    out = sliding_window_group_prox(tf.constant(w), tau, window=2).numpy()
    ref = w.astype(np.float64).copy()
    for s in (0, 1):
        for i in range(2):
            blk = ref[s:s + 2, i]
            n = np.linalg.norm(blk)
            ref[s:s + 2, i] = blk * (max(0.0, 1 - tau / n) if n > 0 else 0.0)
    np.testing.assert_allclose(out, ref, rtol=1e-6)
    # small rows become exactly zero; the zero group stays zero (no NaN)
    small = sliding_window_group_prox(tf.constant(w * 0.1), 1.0, window=2).numpy()
    assert np.all(small == 0.0)
    z = sliding_window_group_prox(tf.zeros([4, 3, 2]), 0.1, window=2).numpy()
    assert np.all(z == 0) and np.all(np.isfinite(z))


def test_prox_per_group_thresholds():
    w = np.ones([2, 2, 1], np.float32)  # one window (T = w = 2); both groups have norm sqrt(2)
    thr = np.array([[[0.5], [2.0]]], np.float32)  # [n_windows=1, D=2, G=1]
    out = sliding_window_group_prox(tf.constant(w), thr, window=2).numpy()
    np.testing.assert_allclose(out[:, 0], 1 - 0.5 / np.sqrt(2), rtol=1e-6)
    assert np.all(out[:, 1] == 0)


def test_proximal_step_uses_lr_times_beta_and_adam_preconditioning():
    reg = SlidingWindowGroupLasso(beta=2.0, window=2)
    v = tf.Variable(np.array([[[3.0], [0.3]], [[4.0], [0.4]]], np.float32))
    sgd = keras.optimizers.SGD(0.5)
    proximal_group_lasso_step(v, reg, sgd)  # tau = 0.5 * 2 = 1
    np.testing.assert_allclose(v.numpy()[:, 0, 0], [2.4, 3.2], rtol=1e-6)
    assert np.all(v.numpy()[:, 1] == 0)
    # Adam after one step with gradient g: v_hat = g^2, so tau_g = beta * lr / mean(|g| + eps).
    v2 = tf.Variable(np.array([[[3.0], [3.0]], [[4.0], [4.0]]], np.float32))
    adam = keras.optimizers.Adam(1e-3)
    grad = np.array([[[1e-3], [1e-8]], [[1e-3], [1e-8]]], np.float32)
    adam.apply_gradients([(tf.constant(grad), v2)])
    before = v2.numpy().copy()
    proximal_group_lasso_step(v2, reg, adam)
    # feature 0: tau = 2 * 1e-3 / (1e-3 + 1e-7) ~ 2 < 5 -> shrunk; feature 1: tau ~ 2e-3 / 1.1e-7 -> 0
    tau0 = 2.0 * 1e-3 / (1e-3 + 1e-7)
    n0 = np.linalg.norm(before[:, 0])
    np.testing.assert_allclose(v2.numpy()[:, 0], before[:, 0] * (1 - tau0 / n0), rtol=1e-4)
    assert np.all(v2.numpy()[:, 1] == 0)
