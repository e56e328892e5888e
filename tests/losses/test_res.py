import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_egl._keras import keras, tf
from keras_egl.explain.grad_cam import cam_from_gradients
from keras_egl.losses.res import (RESLoss, adaptive_threshold, adaptive_threshold_bruteforce,
                                  annotation_target, res_distance, res_hinge, res_loss,
                                  threshold_objective)


def _random_problem(seed, b=3, h=5, w=5):
    rng = np.random.default_rng(seed)
    m = rng.random((b, h, w)).astype("float32")
    # Quantise sometimes to force ties between positive and negative values.
    if seed % 2:
        m = np.round(m * 8) / 8
    t = rng.choice([-1.0, 0.0, 1.0], size=(b, h, w), p=[0.3, 0.3, 0.4]).astype("float32")
    return m, t


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), normalize=st.booleans())
def test_fast_threshold_matches_bruteforce_objective(seed, normalize):
    m, t = _random_problem(seed)
    a = float(adaptive_threshold(m, t, scope="batch", normalize_counts=normalize))
    _, best = adaptive_threshold_bruteforce(m, t, normalize_counts=normalize)
    assert threshold_objective(m, t, a, normalize) == pytest.approx(best, abs=1e-9)


def test_fast_threshold_per_sample_matches_bruteforce():
    m, t = _random_problem(7, b=4)
    a = adaptive_threshold(m, t, scope="sample").numpy()
    assert a.shape == (4,)
    for i in range(4):
        _, best = adaptive_threshold_bruteforce(m[i], t[i])
        assert threshold_objective(m[i], t[i], a[i]) == pytest.approx(best)


def test_threshold_hand_example_and_edge_cases():
    m = tf.constant([[[0.9, 0.2], [0.6, 0.1]]])
    h = tf.constant([[[1.0, -1.0], [1.0, 0.0]]])
    a = float(adaptive_threshold(m, h))
    assert 0.2 < a <= 0.6 and threshold_objective(m.numpy(), h.numpy(), a) == 2.0
    # No negatives: any a ≤ min positive satisfies everything.
    a = float(adaptive_threshold(m, tf.constant([[[1.0, 0.0], [1.0, 0.0]]])))
    assert a <= 0.6 + 1e-7
    # No annotated pixels: default, finite.
    assert float(adaptive_threshold(m, tf.zeros_like(m), default=0.5)) == 0.5
    # Negatives only: a above every negative.
    a = float(adaptive_threshold(m, tf.constant([[[-1.0, -1.0], [0.0, 0.0]]])))
    assert a > 0.9


def test_threshold_has_no_gradient():
    m = tf.Variable(np.random.default_rng(0).random((2, 3, 3)).astype("float32"))
    h = tf.constant(np.sign(np.random.default_rng(1).normal(size=(2, 3, 3))).astype("float32"))
    with tf.GradientTape() as tape:
        a = adaptive_threshold(m, h)
    assert tape.gradient(a, m) is None


def test_hinge_equals_hand_computation():
    m = np.array([[[0.9, 0.2], [0.6, 0.1]]], "float32")
    h = np.array([[[1.0, -1.0], [1.0, 0.0]]], "float32")
    a, gamma, alpha = 0.5, 5.0, 0.1
    errs = [abs(np.tanh(5 * (0.9 - a)) - 1), abs(np.tanh(5 * (0.2 - a)) + 1), abs(np.tanh(5 * (0.6 - a)) - 1)]
    expected = max(0.0, np.mean(errs) - alpha)
    got = float(res_hinge(m, h, alpha=alpha, gamma=gamma, threshold=a))
    assert got == pytest.approx(expected, rel=1e-5)
    # Per-sample scope with a second, unannotated sample: it drops out (no NaN).
    m2 = np.concatenate([m, np.full_like(m, 0.3)])
    h2 = np.concatenate([h, np.zeros_like(h)])
    got = float(res_hinge(m2, h2, alpha=alpha, gamma=gamma, threshold=a, scope="sample"))
    assert got == pytest.approx(expected, rel=1e-5)
    # Large slack: zero.
    assert float(res_hinge(m, h, alpha=5.0, threshold=a)) == 0.0


def test_hinge_batch_vs_sample_pooling_differ_as_documented():
    m = np.array([[[0.9, 0.9]], [[0.1, 0.9]]], "float32")
    h = np.array([[[1.0, 0.0]], [[1.0, 1.0]]], "float32")
    a = 0.5
    e = lambda v: abs(np.tanh(5 * (v - a)) - 1)  # noqa: E731
    batch = (e(0.9) + e(0.1) + e(0.9)) / 3
    sample = (e(0.9) + (e(0.1) + e(0.9)) / 2) / 2
    assert float(res_hinge(m, h, alpha=0.0, threshold=a, scope="batch")) == pytest.approx(batch, rel=1e-5)
    assert float(res_hinge(m, h, alpha=0.0, threshold=a, scope="sample")) == pytest.approx(sample, rel=1e-5)


def test_distance_masked_and_unmasked():
    m = np.array([[[0.5, 1.0], [0.0, 0.25]]], "float32")
    imp = np.array([[[1.0, 1.0], [0.0, 0.0]]], "float32")
    h = np.array([[[1.0, 0.0], [-1.0, 0.0]]], "float32")
    assert float(res_distance(m, imp, h, masked=True)) == pytest.approx((0.5 + 0.0) / 2)
    assert float(res_distance(m, imp, h, masked=False)) == pytest.approx((0.5 + 0 + 0 + 0.25) / 4)


def test_full_loss_no_annotation_is_zero_not_nan():
    m = tf.random.uniform((2, 4, 4), seed=1)
    z = tf.zeros((2, 4, 4))
    val = res_loss(m, z, z, imputed=tf.zeros((2, 4, 4)), mask_distance_term=True)
    assert float(val) == 0.0


def test_bad_inputs():
    m = tf.random.uniform((2, 4, 4), seed=1)
    with pytest.raises(ValueError, match="shape"):
        res_loss(m, tf.zeros((2, 5, 5)))
    with pytest.raises(ValueError, match="binary"):
        res_loss(m, tf.fill((2, 4, 4), 0.5))
    with pytest.raises(ValueError, match="overlap"):
        annotation_target(tf.ones((1, 2, 2)), tf.ones((1, 2, 2)), overlap="error")
    with pytest.raises(ValueError, match="shape"):
        res_hinge(tf.zeros((2, 4)), tf.zeros((2, 4)))
    with pytest.raises(ValueError, match="scope"):
        adaptive_threshold(m, tf.zeros_like(m), scope="image")
    with pytest.raises(TypeError):
        res_loss(m, tf.constant([["a"]]))
    # Overlap precedence: "unannotated" (code's pos − neg) gives 0 there.
    h = annotation_target(tf.ones((1, 2, 2)), tf.constant([[[1.0, 0.0], [0.0, 0.0]]]), overlap="unannotated")
    np.testing.assert_array_equal(h.numpy(), [[[0, 1], [1, 1]]])
    h = annotation_target(tf.ones((1, 2, 2)), tf.constant([[[1.0, 0.0], [0.0, 0.0]]]), overlap="negative")
    np.testing.assert_array_equal(h.numpy(), [[[-1, 1], [1, 1]]])


def test_batch_without_negatives_is_finite():
    m = tf.random.uniform((2, 4, 4), seed=3)
    pos = tf.cast(tf.random.uniform((2, 4, 4), seed=4) > 0.5, tf.float32)
    val, parts = res_loss(m, pos, None, imputed=m, return_parts=True)
    assert np.isfinite(float(val)) and np.isfinite(float(parts["threshold"]))


def test_resloss_config_round_trip_and_presets():
    loss = RESLoss.preset("paper", alpha=0.001)
    cfg = keras.saving.serialize_keras_object(loss)
    back = keras.saving.deserialize_keras_object(cfg)
    assert back.get_config() == loss.get_config()
    assert loss.hinge_scope == "sample" and loss.mask_distance_term and not loss.normalize_counts
    code = RESLoss.preset("code")
    assert code.hinge_scope == "batch" and not code.mask_distance_term and code.gamma == 5.0
    with pytest.raises(ValueError, match="fidelity"):
        RESLoss.preset("book")
    with pytest.raises(ValueError, match="alpha"):
        RESLoss(alpha=-1)


def test_finite_difference_gradient_of_second_order_gradcam_loss():
    """∂L/∂θ of a Grad-CAM-based RES loss (second-order CAM weights) vs central differences."""
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(2, 6, 6, 2)), tf.float64)
    w1 = tf.Variable(rng.normal(size=(3, 3, 2, 3)) * 0.5, dtype=tf.float64)
    w2 = tf.Variable(rng.normal(size=(3, 2)) * 0.5, dtype=tf.float64)
    y = tf.constant([0, 1])
    h = tf.constant(rng.choice([-1.0, 0.0, 1.0], size=(2, 6, 6)), tf.float64)

    def loss_fn():
        with tf.GradientTape() as inner:
            acts = tf.tanh(tf.nn.conv2d(x, w1, 1, "SAME"))
            inner.watch(acts)
            logits = tf.reduce_mean(acts, [1, 2]) @ w2
            score = tf.reduce_sum(tf.gather(logits, y, axis=1, batch_dims=1))
        grads = inner.gradient(score, acts)
        cam = cam_from_gradients(acts, grads, cam_weights="second_order", relu=False, normalize=None)
        cam = tf.sigmoid(cam)
        return res_hinge(cam, h, alpha=0.0, gamma=5.0, threshold=0.5, scope="sample") + \
            res_distance(cam, tf.nn.relu(h), h, masked=True)

    with tf.GradientTape() as tape:
        loss = loss_fn()
    g1, g2 = tape.gradient(loss, [w1, w2])
    # The second-order path: with detached weights ∂L/∂w2 would be zero.
    assert np.abs(g2.numpy()).max() > 1e-6
    eps = 1e-6
    for var, g in ((w1, g1), (w2, g2)):
        flat = var.numpy().ravel()
        for idx in rng.choice(flat.size, size=min(6, flat.size), replace=False):
            orig = flat[idx]
            flat[idx] = orig + eps
            var.assign(flat.reshape(var.shape))
            lp = float(loss_fn())
            flat[idx] = orig - eps
            var.assign(flat.reshape(var.shape))
            lm = float(loss_fn())
            flat[idx] = orig
            var.assign(flat.reshape(var.shape))
            fd = (lp - lm) / (2 * eps)
            assert g.numpy().ravel()[idx] == pytest.approx(fd, rel=1e-4, abs=1e-8)
