"""Tests for keras_egl.explain.attribution (evaluation-time attribution baselines)."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keras_egl._keras import keras, tf
from keras_egl.explain.attribution import (
    _class_score,
    gradient_x_input,
    integrated_gradients,
    occlusion,
    smoothgrad,
)

RNG = np.random.default_rng(0)
W_LIN = RNG.normal(size=(12, 3)).astype(np.float32)
B_LIN = RNG.normal(size=(3,)).astype(np.float32)


def linear_model(x):
    """Plain callable: logits = flatten(x) @ W + b, for x of shape (B, 2, 3, 2)."""
    return tf.reshape(x, [tf.shape(x)[0], -1]) @ W_LIN + B_LIN


def smooth_model():
    keras.utils.set_random_seed(0)
    return keras.Sequential([
        keras.layers.Flatten(input_shape=(2, 3, 2)),
        keras.layers.Dense(8, activation="tanh"),
        keras.layers.Dense(3),
    ])


def patch_model(x):
    """Class 0 depends only on the top-left 2×2 patch: s = Σ x[:, :2, :2]; class 1 is constant."""
    patch = x[:, :2, :2]
    s = tf.reduce_sum(tf.reshape(patch, [tf.shape(x)[0], -1]), axis=1)
    return tf.stack([s, tf.zeros_like(s)], -1)


def x_batch(b=4, seed=1):
    return np.random.default_rng(seed).normal(size=(b, 2, 3, 2)).astype(np.float32)


# --------------------------------------------------------------------------- class score


def test_class_score_quantities_and_targets():
    z = tf.constant([[1.0, 3.0, -1.0], [0.5, 0.0, 2.0]])
    p = tf.nn.softmax(z).numpy()
    np.testing.assert_allclose(_class_score(z, "pred").numpy(), [3.0, 2.0])
    np.testing.assert_allclose(_class_score(z, 0).numpy(), [1.0, 0.5])
    np.testing.assert_allclose(_class_score(z, np.array([2, 1])).numpy(), [-1.0, 0.0])
    np.testing.assert_allclose(_class_score(z, np.eye(3)[[2, 1]]).numpy(), [-1.0, 0.0])
    np.testing.assert_allclose(_class_score(z, 1, quantity="prob").numpy(), p[:, 1], rtol=1e-6)
    np.testing.assert_allclose(_class_score(z, 1, quantity="log_prob").numpy(), np.log(p[:, 1]), rtol=1e-5)
    # probabilities in, from_logits=False
    np.testing.assert_allclose(_class_score(tf.constant(p), "pred", from_logits=False, quantity="prob").numpy(),
                               p.max(1), rtol=1e-6)


def test_class_score_single_sigmoid_unit():
    z = tf.constant([[2.0], [-1.0]])
    np.testing.assert_allclose(_class_score(z, "pred").numpy(), [2.0, 1.0])  # ±z of the predicted class
    np.testing.assert_allclose(_class_score(z[:, 0], 1).numpy(), [2.0, -1.0])  # (B,) output ≡ (B, 1)
    np.testing.assert_allclose(_class_score(z, 1, quantity="prob").numpy(), 1 / (1 + np.exp(-z.numpy()[:, 0])),
                               rtol=1e-6)
    np.testing.assert_allclose(_class_score(tf.constant([[0.8], [0.3]]), 0, from_logits=False, quantity="prob")
                               .numpy(), [0.2, 0.7], rtol=1e-6)


def test_class_score_bad_targets():
    z = tf.zeros((2, 3))
    with pytest.raises(ValueError, match="target"):
        _class_score(z, 3)
    with pytest.raises(ValueError, match="target"):
        _class_score(z, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="target"):
        _class_score(z, np.array([0, 5]))
    with pytest.raises(ValueError, match="target"):
        _class_score(z, "true")
    with pytest.raises(ValueError, match="target"):
        _class_score(z, np.array([0.5, 1.0]))
    with pytest.raises(TypeError, match="target"):
        _class_score(z, None)
    with pytest.raises(ValueError, match="quantity"):
        _class_score(z, 0, quantity="margin")
    with pytest.raises(ValueError, match="logit"):
        _class_score(z, 0, from_logits=False)


# --------------------------------------------------------------------------- gradient × input


def test_gradient_x_input_linear_exact():
    x = x_batch()
    logits = linear_model(x).numpy()
    attr = gradient_x_input(linear_model, x, target="pred").numpy()
    pred = logits.argmax(1)
    expected = x * W_LIN[:, pred].T.reshape(x.shape)
    np.testing.assert_allclose(attr, expected, rtol=1e-6, atol=1e-7)
    per_sample = gradient_x_input(linear_model, x, target=np.array([0, 1, 2, 0])).numpy()
    np.testing.assert_allclose(per_sample, x * W_LIN[:, [0, 1, 2, 0]].T.reshape(x.shape), rtol=1e-6, atol=1e-7)
    # batching does not change anything, one-hot ≡ index
    np.testing.assert_allclose(gradient_x_input(linear_model, x, target=np.eye(3)[[0, 1, 2, 0]], batch_size=3),
                               per_sample, rtol=1e-6, atol=1e-7)


def test_gradient_x_input_keras_model_matches_tape():
    model = smooth_model()
    x = tf.constant(x_batch())
    with tf.GradientTape() as tape:
        tape.watch(x)
        s = tf.reduce_sum(model(x)[:, 1])
    np.testing.assert_allclose(gradient_x_input(model, x, target=1).numpy(), (x * tape.gradient(s, x)).numpy(),
                               rtol=1e-5, atol=1e-7)


# --------------------------------------------------------------------------- integrated gradients


def test_ig_linear_model_is_exact():
    x = x_batch()
    base = np.full(x.shape[1:], 0.5, np.float32)
    attr = integrated_gradients(linear_model, x, target=2, baseline=base, steps=3).numpy()
    np.testing.assert_allclose(attr, (x - base) * W_LIN[:, 2].reshape(x.shape[1:]), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("method,steps,tol", [
    ("riemann_trapezoid", 64, 2e-3),
    ("riemann_middle", 64, 2e-3),
    ("gausslegendre", 16, 1e-4),
    ("riemann_left", 200, 3e-2),
    ("riemann_right", 200, 3e-2),
])
def test_ig_completeness(method, steps, tol):
    model = smooth_model()
    x = 2.0 * x_batch(b=3)
    for baseline in (None, -0.3, np.random.default_rng(2).normal(size=x.shape).astype(np.float32)):
        attr, delta = integrated_gradients(model, x, target="pred", baseline=baseline, steps=steps,
                                           method=method, return_convergence_delta=True)
        base = (np.zeros_like(x) if baseline is None else
                np.full_like(x, baseline) if np.isscalar(baseline) else baseline)
        z_x, z_b = model(x).numpy(), model(base).numpy()
        c = z_x.argmax(1)
        gap = z_x[np.arange(3), c] - z_b[np.arange(3), c]
        total = attr.numpy().reshape(3, -1).sum(1)
        np.testing.assert_allclose(total, gap, atol=tol * max(1.0, np.abs(gap).max()))
        np.testing.assert_allclose(delta.numpy(), total - gap, atol=1e-4)


def test_ig_single_logit_model_completeness():
    w = np.random.default_rng(6).normal(size=(12,)).astype(np.float32)

    def f(x):  # one logit per sample, shape (B,)
        return tf.tanh(tf.reshape(x, [tf.shape(x)[0], -1]) @ w[:, None])[:, 0] * 3.0

    x = x_batch(b=4)
    attr = integrated_gradients(f, x, target=1, steps=20, method="gausslegendre", batch_size=9)
    np.testing.assert_allclose(attr.numpy().reshape(4, -1).sum(1), f(x).numpy() - f(np.zeros_like(x)).numpy(),
                               atol=1e-4)


def test_ig_batch_size_invariance_and_prob_quantity():
    model = smooth_model()
    x = x_batch(b=3)
    full = integrated_gradients(model, x, target=np.array([0, 1, 2]), steps=10, quantity="prob")
    chunked = integrated_gradients(model, x, target=np.array([0, 1, 2]), steps=10, quantity="prob",
                                   batch_size=7)
    np.testing.assert_allclose(full.numpy(), chunked.numpy(), rtol=1e-5, atol=1e-7)
    p_x = tf.nn.softmax(model(x)).numpy()[np.arange(3), [0, 1, 2]]
    p_0 = tf.nn.softmax(model(np.zeros_like(x))).numpy()[np.arange(3), [0, 1, 2]]
    np.testing.assert_allclose(full.numpy().reshape(3, -1).sum(1), p_x - p_0, atol=2e-3)


def test_ig_bad_inputs():
    x = x_batch()
    with pytest.raises(ValueError, match="baseline"):
        integrated_gradients(linear_model, x, target=0, baseline=np.zeros((3, 3)))
    with pytest.raises(ValueError, match="baseline"):
        integrated_gradients(linear_model, x, target=0, baseline=float("nan"))
    with pytest.raises(ValueError, match="steps"):
        integrated_gradients(linear_model, x, target=0, steps=0)
    with pytest.raises(ValueError, match="steps"):
        integrated_gradients(linear_model, x, target=0, steps=1, method="riemann_trapezoid")
    with pytest.raises(ValueError, match="method"):
        integrated_gradients(linear_model, x, target=0, method="simpson")
    with pytest.raises(ValueError, match="batch_size"):
        integrated_gradients(linear_model, x, target=0, batch_size=0)
    with pytest.raises(ValueError, match="target"):
        integrated_gradients(linear_model, x, target=np.array([0, 1]))
    bad = x.copy()
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="`x`"):
        integrated_gradients(linear_model, bad, target=0)


# --------------------------------------------------------------------------- SmoothGrad


def test_smoothgrad_linear_model_equals_gradient():
    x = x_batch()
    sg = smoothgrad(linear_model, x, target=1, n_samples=5, seed=0).numpy()
    np.testing.assert_allclose(sg, np.broadcast_to(W_LIN[:, 1].reshape(x.shape[1:]), x.shape), rtol=1e-5)
    sq = smoothgrad(linear_model, x, target=1, n_samples=5, squared=True, seed=0).numpy()
    np.testing.assert_allclose(sq, np.broadcast_to(W_LIN[:, 1].reshape(x.shape[1:]) ** 2, x.shape), rtol=1e-5)


def test_smoothgrad_seeded_and_batch_size_invariant():
    model = smooth_model()
    x = x_batch(b=3)
    a = smoothgrad(model, x, target="pred", n_samples=6, seed=7).numpy()
    b = smoothgrad(model, x, target="pred", n_samples=6, seed=7, batch_size=4).numpy()
    c = smoothgrad(model, x, target="pred", n_samples=6, seed=8).numpy()
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    assert np.abs(a - c).max() > 1e-4
    # noise_level = 0 gives the plain gradient
    plain = smoothgrad(model, x, target="pred", n_samples=3, noise_level=0.0, seed=0).numpy()
    xt = tf.constant(x)
    c = model(xt).numpy().argmax(1)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        s = tf.reduce_sum(tf.gather(model(xt), c, axis=1, batch_dims=1))
    np.testing.assert_allclose(plain, tape.gradient(s, xt).numpy(), rtol=1e-5, atol=1e-7)


def test_smoothgrad_matches_manual_average():
    model = smooth_model()
    x = x_batch(b=2)
    n, level, seed = 4, 0.2, 3
    sg = smoothgrad(model, x, target=0, n_samples=n, noise_level=level, seed=seed).numpy()
    # Re-derive: noise for copy k is stateless_normal(x.shape, seed=(seed, 0x5EED + k)).
    sigma = level * (x.max(axis=(1, 2, 3)) - x.min(axis=(1, 2, 3)))
    acc = np.zeros_like(x)
    for k in range(n):
        eps = tf.random.stateless_normal(x.shape, seed=tf.constant([seed, 0x5EED + k], tf.int64)).numpy()
        xn = tf.constant(x + sigma[:, None, None, None] * eps)
        with tf.GradientTape() as tape:
            tape.watch(xn)
            s = tf.reduce_sum(model(xn)[:, 0])
        acc += tape.gradient(s, xn).numpy()
    np.testing.assert_allclose(sg, acc / n, rtol=1e-5, atol=1e-7)


def test_smoothgrad_bad_inputs():
    x = x_batch()
    with pytest.raises(ValueError, match="n_samples"):
        smoothgrad(linear_model, x, n_samples=0)
    with pytest.raises(ValueError, match="noise_level"):
        smoothgrad(linear_model, x, noise_level=-0.1)
    with pytest.raises(TypeError, match="seed"):
        smoothgrad(linear_model, x, seed=1.5)
    with pytest.raises(ValueError, match="`x`"):
        smoothgrad(linear_model, np.full((1, 2, 3, 2), np.inf, np.float32))


# --------------------------------------------------------------------------- occlusion


def test_occlusion_hand_check_stride_one():
    x = np.ones((1, 4, 4), np.float32)
    attr = occlusion(patch_model, x, target=0, window=(2, 2), stride=1).numpy()[0]
    # drops per window start (r, c): (0,0)→4, (0,1)→2, (1,0)→2, (1,1)→1, others 0;
    # each pixel averages the drops of the windows covering it.
    expected = np.array([
        [4, 3, 1, 0],
        [3, 9 / 4, 3 / 4, 0],
        [1, 3 / 4, 1 / 4, 0],
        [0, 0, 0, 0],
    ])
    np.testing.assert_allclose(attr, expected, rtol=1e-6)


def test_occlusion_hand_check_stride_two_and_channels():
    rng = np.random.default_rng(4)
    x = rng.random((2, 4, 4, 3)).astype(np.float32)
    attr = occlusion(patch_model, x, target=0, window=2, stride=2, baseline_value=0.5).numpy()
    assert attr.shape == (2, 4, 4)
    patch = x[:, :2, :2].reshape(2, -1)
    drop = patch.sum(1) - 0.5 * patch.shape[1]
    expected = np.zeros((2, 4, 4))
    expected[:, :2, :2] = drop[:, None, None]
    np.testing.assert_allclose(attr, expected, rtol=1e-5, atol=1e-6)
    # class 1 never changes
    np.testing.assert_array_equal(occlusion(patch_model, x, target=1, window=2, stride=2).numpy(), 0)


def occlusion_bruteforce(f, x, c, wh, ww, sh, sw, base):
    b, h, w = x.shape[:3]
    s0 = f(x).numpy()[:, c]
    total = np.zeros((b, h, w))
    count = np.zeros((h, w))
    r = 0
    while True:
        col = 0
        while True:
            xo = x.copy()
            xo[:, r:r + wh, col:col + ww] = base
            total[:, r:r + wh, col:col + ww] += (s0 - f(xo).numpy()[:, c])[:, None, None]
            count[r:r + wh, col:col + ww] += 1
            if col + ww >= w:
                break
            col += sw
        if r + wh >= h:
            break
        r += sh
    return np.where(count > 0, total / np.maximum(count, 1), 0.0)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(h=st.integers(2, 7), w=st.integers(2, 7), wh=st.integers(1, 3), ww=st.integers(1, 3),
       sh=st.integers(1, 3), sw=st.integers(1, 3), seed=st.integers(0, 100))
def test_occlusion_matches_bruteforce(h, w, wh, ww, sh, sw, seed):
    wh, ww = min(wh, h), min(ww, w)
    rng = np.random.default_rng(seed)
    wts = rng.normal(size=(h * w, 2)).astype(np.float32)

    def f(x):
        flat = tf.reshape(x, [tf.shape(x)[0], -1])
        return tf.tanh(flat @ wts)

    x = rng.normal(size=(2, h, w)).astype(np.float32)
    got = occlusion(f, x, target=1, window=(wh, ww), stride=(sh, sw), baseline_value=0.1, batch_size=5).numpy()
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, occlusion_bruteforce(f, x, 1, wh, ww, sh, sw, 0.1), rtol=1e-4, atol=1e-5)


def test_occlusion_uncovered_pixels_are_zero():
    x = np.ones((1, 5, 5), np.float32)
    attr = occlusion(patch_model, x, target=0, window=1, stride=3).numpy()[0]
    # windows at rows/cols {0, 3}: only (0,0) touches the patch (drop 1); rows/cols 1, 2, 4 uncovered
    expected = np.zeros((5, 5))
    expected[0, 0] = 1
    np.testing.assert_array_equal(attr, expected)


def test_occlusion_bad_inputs():
    x = np.zeros((1, 4, 4), np.float32)
    with pytest.raises(ValueError, match="window"):
        occlusion(patch_model, x, target=0, window=(5, 2))
    with pytest.raises(ValueError, match="stride"):
        occlusion(patch_model, x, target=0, stride=0)
    with pytest.raises(ValueError, match="baseline_value"):
        occlusion(patch_model, x, target=0, baseline_value=float("nan"))
    with pytest.raises(ValueError, match="`x`"):
        occlusion(patch_model, np.zeros((1, 16), np.float32), target=0)
    with pytest.raises(ValueError, match="target"):
        occlusion(patch_model, x, target=np.eye(2)[[0, 1]])  # two rows for one sample


def test_attributions_refuse_graph_mode():
    @tf.function
    def f(x):
        return gradient_x_input(linear_model, x, target=0)

    with pytest.raises(RuntimeError, match="eager"):
        f(tf.constant(x_batch()))
