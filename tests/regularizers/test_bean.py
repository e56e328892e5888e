import numpy as np
import pytest

from keras_egl._keras import keras, tf
from keras_egl.regularizers.bean import (
    BEANRegularizer,
    bean_penalty,
    bean_penalty_pairwise,
    connectivity_strength,
    convert_alpha,
    neuron_correlation,
)
from keras_egl.regularizers.sparsity import L1, ExclusiveSparsity12, GroupLasso21, weight_decay


def _np_reference(h, w, order, gamma, divergence, normalize):
    """Literal loops over Eq. 2.1 / 2.5 / 2.7 in numpy (float64)."""
    h = np.atleast_2d(np.asarray(h, np.float64))
    w = np.asarray(w, np.float64)
    s, n = h.shape
    m = w.shape[1]
    f = np.abs(np.tanh(gamma * w))
    a = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            if order == 1:
                a[i, j] = sum(f[i, k] * f[j, k] for k in range(m)) / (m if normalize else 1)
            elif order == 2:
                a[i, j] = sum(f[i, k] * f[j, k] * f[i, q] * f[j, q] for k in range(m) for q in range(m)) / (
                    m * m if normalize else 1)
            else:
                den = np.linalg.norm(f[i]) * np.linalg.norm(f[j])
                a[i, j] = f[i] @ f[j] / den if den > 0 else 0.0
    total = 0.0
    for t in range(s):
        for i in range(n):
            for j in range(n):
                d = h[t, i] - h[t, j]
                total += a[i, j] * (d * d if divergence == "squared" else abs(d))
    return total / (s * n * n)


@pytest.mark.parametrize("order", [1, 2, "cos"])
@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("divergence", ["squared", "abs"])
def test_penalty_matches_literal_definition(order, normalize, divergence):
    rng = np.random.default_rng(0)
    h = rng.normal(size=(3, 5))
    w = rng.normal(size=(5, 4))
    expected = _np_reference(h, w, order, 0.7, divergence, normalize)
    got = bean_penalty(tf.constant(h), tf.constant(w), order, 0.7, divergence, normalize)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10)


@pytest.mark.parametrize("order", [1, 2, "cos"])
@pytest.mark.parametrize("normalize", [True, False])
def test_laplacian_form_equals_pairwise_random(order, normalize):
    rng = np.random.default_rng(1)
    for s, n, m in [(1, 7, 3), (16, 30, 12), (4, 50, 10), (5, 6, 9)]:  # low-rank and dense paths
        h = tf.constant(rng.normal(size=(s, n)) * rng.uniform(0.1, 3), tf.float64)
        w = tf.constant(rng.normal(size=(n, m)), tf.float64)
        lap = bean_penalty(h, w, order=order, normalize=normalize)
        pair = bean_penalty_pairwise(h, w, order=order, normalize=normalize)
        np.testing.assert_allclose(lap.numpy(), pair.numpy(), rtol=1e-9)



@pytest.mark.parametrize("s,n,m", [(1, 84, 10), (60, 84, 10), (1, 120, 84), (2, 400, 120)])
def test_order2_branch_choice_static_and_dynamic_batch_agree(s, n, m):
    # BEAN-2 picks its cheaper form in Python for a static batch and with
    # tf.cond for an unknown one; both must give the pairwise value.
    rng = np.random.default_rng(3)
    h = tf.constant(rng.normal(size=(s, n)), tf.float64)
    w = tf.constant(rng.normal(size=(n, m)), tf.float64)
    dynamic = tf.function(lambda a, b: bean_penalty(a, b, order=2),
                          input_signature=[tf.TensorSpec((None, n), tf.float64), tf.TensorSpec((n, m), tf.float64)])
    expected = bean_penalty_pairwise(h, w, order=2).numpy()
    np.testing.assert_allclose(bean_penalty(h, w, order=2).numpy(), expected, rtol=1e-9)
    np.testing.assert_allclose(dynamic(h, w).numpy(), expected, rtol=1e-9)

def test_hand_computed_value():
    # W = atanh(0.5) everywhere -> f = 0.5; N_l = 2, N_{l+1} = 2.
    w = np.full((2, 2), np.arctanh(0.5))
    h = np.array([[1.0, 3.0]])
    # BEAN-1 paper: A_01 = (0.25 + 0.25)/2 = 0.25; sum_ij = 2 * 0.25 * (1-3)^2 = 2; / (1 * 4) = 0.5
    assert bean_penalty(h, w, order=1, normalize=True).numpy() == pytest.approx(0.5)
    # code scale: A_01 = 0.5 -> 1.0
    assert bean_penalty(h, w, order=1, normalize=False).numpy() == pytest.approx(1.0)
    # BEAN-2 paper: A_01 = 0.5^2 / 4 = 0.0625 -> 2*0.0625*4/4 = 0.125
    assert bean_penalty(h, w, order=2, normalize=True).numpy() == pytest.approx(0.125)
    # cos: rows identical -> A_01 = 1 -> 2 * 4 / 4 = 2
    assert bean_penalty(h, w, order="cos").numpy() == pytest.approx(2.0)
    # abs: 2 * 0.25 * 2 / 4 = 0.25
    assert bean_penalty(h, w, order=1, divergence="abs").numpy() == pytest.approx(0.25)


@pytest.mark.parametrize("order", [1, 2])
def test_alpha_conversion_is_exact(order):
    rng = np.random.default_rng(2)
    h = tf.constant(rng.normal(size=(8, 12)), tf.float64)
    w = tf.constant(rng.normal(size=(12, 7)), tf.float64)
    alpha_code = 3.0
    alpha_paper = convert_alpha(alpha_code, 7, order, to="paper")
    assert alpha_paper == alpha_code * 7 ** order
    a = alpha_code * bean_penalty(h, w, order=order, normalize=False)
    b = alpha_paper * bean_penalty(h, w, order=order, normalize=True)
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12)
    assert convert_alpha(alpha_paper, 7, order, to="code") == pytest.approx(alpha_code)
    assert convert_alpha(5.0, 7, "cos") == 5.0
    np.testing.assert_allclose(bean_penalty(h, w, "cos", normalize=True).numpy(),
                               bean_penalty(h, w, "cos", normalize=False).numpy())


@pytest.mark.parametrize("order", [1, 2, "cos"])
def test_finite_difference_gradients(order):
    rng = np.random.default_rng(3)
    h0 = rng.normal(size=(4, 6))
    w0 = rng.normal(size=(6, 3)) + 0.3  # keep entries away from the |.| kink at 0
    h = tf.Variable(h0)
    w = tf.Variable(w0)
    with tf.GradientTape() as tape:
        loss = bean_penalty(h, w, order=order, gamma=1.3, normalize=False)
    gh, gw = tape.gradient(loss, [h, w])
    assert np.abs(gh.numpy()).sum() > 0 and np.abs(gw.numpy()).sum() > 0  # flows into both

    def f(hv, wv):
        return bean_penalty(tf.constant(hv), tf.constant(wv), order=order, gamma=1.3, normalize=False).numpy()

    eps = 1e-6
    for arr, grad, is_h in ((h0, gh.numpy(), True), (w0, gw.numpy(), False)):
        for idx in [(0, 0), (1, 2), (3 if is_h else 5, 1)]:
            p, m = arr.copy(), arr.copy()
            p[idx] += eps
            m[idx] -= eps
            num = (f(p, w0) - f(m, w0)) / (2 * eps) if is_h else (f(h0, p) - f(h0, m)) / (2 * eps)
            assert grad[idx] == pytest.approx(num, rel=1e-5, abs=1e-9)


def test_single_sample_and_vector_input():
    w = tf.random.stateless_normal((5, 3), seed=(1, 2), dtype=tf.float64)
    h = tf.random.stateless_normal((5,), seed=(3, 4), dtype=tf.float64)
    a = bean_penalty(h, w)
    b = bean_penalty(h[None, :], w)
    assert np.isfinite(a.numpy()) and a.numpy() > 0
    np.testing.assert_allclose(a.numpy(), b.numpy())


def test_constant_activations_give_zero_and_zero_kernel_is_nan_safe():
    h = tf.ones((4, 6))
    w = tf.random.normal((6, 3))
    assert bean_penalty(h, w).numpy() == pytest.approx(0.0, abs=1e-6)
    z = bean_penalty(tf.random.normal((4, 6)), tf.zeros((6, 3)), order="cos")
    assert z.numpy() == 0.0
    with tf.GradientTape() as tape:
        w0 = tf.Variable(tf.zeros((6, 3)))
        loss = bean_penalty(tf.random.normal((4, 6)), w0, order="cos")
    g = tape.gradient(loss, w0)
    assert np.all(np.isfinite(g.numpy()))


def test_neuron_correlation_properties():
    w = tf.random.stateless_normal((9, 4), seed=(0, 1))
    for order in (1, 2, "cos"):
        a = neuron_correlation(w, order=order).numpy()
        np.testing.assert_allclose(a, a.T, atol=1e-6)
        assert (a >= 0).all() and (a <= 1 + 1e-6).all()
    f = connectivity_strength(w, gamma=2.0).numpy()
    np.testing.assert_allclose(f, np.abs(np.tanh(2.0 * w.numpy())), rtol=1e-6)
    a1 = neuron_correlation(w, 1, normalize=False).numpy()
    a2 = neuron_correlation(w, 2, normalize=False).numpy()
    np.testing.assert_allclose(a2, a1 * a1, rtol=1e-5)


@pytest.mark.parametrize(
    "kwargs, exc, word",
    [
        (dict(h=np.zeros((2, 5)), kernel=np.zeros((4, 3))), ValueError, "N_l"),
        (dict(h=np.zeros((2, 4)), kernel=np.zeros((4, 3)), gamma=0.0), ValueError, "gamma"),
        (dict(h=np.zeros((2, 4)), kernel=np.zeros((4, 3)), gamma=-1.0), ValueError, "gamma"),
        (dict(h=np.zeros((2, 4)), kernel=np.zeros((4, 3)), order=3), ValueError, "order"),
        (dict(h=np.zeros((2, 4)), kernel=np.zeros((4, 3)), divergence="l2"), ValueError, "divergence"),
        (dict(h=np.zeros((2, 4)), kernel=np.zeros((4,))), ValueError, "kernel"),
        (dict(h=np.zeros((2, 2, 4)), kernel=np.zeros((4, 3))), ValueError, "h"),
    ],
)
def test_bad_input(kwargs, exc, word):
    with pytest.raises(exc, match=word):
        bean_penalty(**kwargs)


def test_regularizer_config_roundtrip_and_call():
    reg = BEANRegularizer(alpha=100.0, order=2, gamma=1.0, divergence="squared", normalize=False)
    reg2 = BEANRegularizer.from_config(reg.get_config())
    assert reg2.get_config() == reg.get_config()
    ser = keras.saving.serialize_keras_object(reg)
    reg3 = keras.saving.deserialize_keras_object(ser)
    assert isinstance(reg3, BEANRegularizer) and reg3.get_config() == reg.get_config()
    h, w = tf.random.normal((5, 8)), tf.random.normal((8, 3))
    np.testing.assert_allclose(reg(h, w).numpy(), 100.0 * bean_penalty(h, w, 2, normalize=False).numpy(), rtol=1e-6)
    with pytest.raises(ValueError, match="alpha"):
        BEANRegularizer(alpha=-1.0)
    with pytest.raises(TypeError, match="gamma"):
        BEANRegularizer(gamma="1")


# ----------------------------------------------------------------------------- sparsity baselines


def test_sparsity_regularizers_hand_values():
    w = tf.constant([[3.0, -4.0], [0.0, 1.0], [0.0, 0.0]])
    assert L1(0.5)(w).numpy() == pytest.approx(0.5 * 8)
    # outgoing groups = rows: norms 5, 1, 0
    assert GroupLasso21(2.0, epsilon=0.0)(w).numpy() == pytest.approx(2.0 * 6)
    # incoming groups = columns: norms 3, sqrt(17)
    assert GroupLasso21(1.0, groups="incoming", epsilon=0.0)(w).numpy() == pytest.approx(3 + np.sqrt(17), rel=1e-6)
    # exclusive: rows l1 = 7, 1, 0 -> 0.5 * (49 + 1)
    assert ExclusiveSparsity12(1.0)(w).numpy() == pytest.approx(25.0)
    assert ExclusiveSparsity12(1.0, groups="incoming")(w).numpy() == pytest.approx(0.5 * (9 + 25))
    assert weight_decay(0.1)(w).numpy() == pytest.approx(0.1 * 26)


def test_sparsity_regularizers_roundtrip_and_gradient_at_zero():
    for reg in (L1(0.1), GroupLasso21(0.2, groups="incoming"), ExclusiveSparsity12(0.3)):
        ser = keras.saving.serialize_keras_object(reg)
        back = keras.saving.deserialize_keras_object(ser)
        assert type(back) is type(reg) and back.get_config() == reg.get_config()
    v = tf.Variable(tf.zeros((3, 2)))
    with tf.GradientTape() as tape:
        loss = GroupLasso21(1.0)(v)
    assert np.all(np.isfinite(tape.gradient(loss, v).numpy()))
    with pytest.raises(ValueError, match="groups"):
        GroupLasso21(1.0, groups="rows")
    with pytest.raises(ValueError, match="l1"):
        L1(-1.0)


# --------------------------------------------------------------------------- float32 robustness
# d(x, y) depends on x - y only and A on the kernel only, so subtracting a per-sample
# constant from every unit leaves L_c (and its gradients) unchanged for every order,
# normalisation and divergence; bean_penalty centres each sample to keep float32 exact
# when activations share a large offset (the Laplacian form first - second cancels).

def _value_and_grads(h, w, **kw):
    h, w = tf.Variable(h), tf.Variable(w)
    with tf.GradientTape() as tape:
        loss = bean_penalty(h, w, **kw)
    gh, gw = tape.gradient(loss, [h, w])
    return loss.numpy(), gh.numpy(), gw.numpy()


@pytest.mark.parametrize("order", [1, 2, "cos"])
@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("divergence", ["squared", "abs"])
def test_offset_invariance_in_exact_arithmetic(order, normalize, divergence):
    # The claim the centring rests on, checked in float64 on every variant.
    rng = np.random.default_rng(5)
    h = rng.normal(size=(4, 7))
    w = rng.normal(size=(7, 3))
    shift = rng.normal(size=(4, 1)) * 10
    a = bean_penalty(h, w, order, 0.8, divergence, normalize).numpy()
    b = _np_reference(h + shift, w, order, 0.8, divergence, normalize)
    np.testing.assert_allclose(a, b, rtol=1e-9)


@pytest.mark.parametrize("order", [1, 2, "cos"])
@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("divergence", ["squared", "abs"])
@pytest.mark.parametrize("s,n,m", [(16, 30, 12), (5, 6, 9), (1, 84, 10), (2, 40, 30)])
def test_float32_large_common_offset_matches_float64_reference(order, normalize, divergence, s, n, m):
    # delta = 1e-3 differences on top of a 1e3 offset: the uncentred float32 Laplacian
    # form lost every digit here (value error 100 %, kernel gradient 25x off).
    rng = np.random.default_rng(7)
    offset, delta = 1e3, 1e-3
    h32 = (offset + delta * rng.normal(size=(s, n))).astype(np.float32)
    w32 = (rng.normal(size=(n, m)) + 0.2).astype(np.float32)
    h_ref = h32.astype(np.float64) - offset  # exact: the data actually fed, without the offset
    kw = dict(order=order, normalize=normalize, divergence=divergence)
    v32, gh32, gw32 = _value_and_grads(h32, w32, **kw)
    v64, gh64, gw64 = _value_and_grads(h_ref, w32.astype(np.float64), **kw)
    assert v32 >= 0
    np.testing.assert_allclose(v32, v64, rtol=1e-3)
    np.testing.assert_allclose(gh32, gh64, rtol=1e-3, atol=1e-3 * np.abs(gh64).max())
    np.testing.assert_allclose(gw32, gw64, rtol=1e-3, atol=1e-3 * np.abs(gw64).max())


@pytest.mark.parametrize("order", [1, 2, "cos"])
def test_float32_offset_with_unknown_batch_in_graph_mode(order):
    rng = np.random.default_rng(8)
    h32 = (1e3 + 1e-3 * rng.normal(size=(3, 84))).astype(np.float32)
    w32 = rng.normal(size=(84, 10)).astype(np.float32)
    fn = tf.function(lambda a, b: bean_penalty(a, b, order=order),
                     input_signature=[tf.TensorSpec((None, 84), tf.float32), tf.TensorSpec((84, 10), tf.float32)])
    expected = bean_penalty(h32.astype(np.float64) - 1e3, w32.astype(np.float64), order=order).numpy()
    np.testing.assert_allclose(fn(h32, w32).numpy(), expected, rtol=1e-3)


@pytest.mark.parametrize("order", [1, 2, "cos"])
def test_float32_penalty_is_never_negative(order):
    rng = np.random.default_rng(9)
    for trial in range(20):
        s, n, m = rng.integers(1, 6), rng.integers(2, 40), rng.integers(1, 20)
        base = rng.normal(size=(s, 1)) * 10 ** rng.uniform(-2, 4)
        h = (base + 10 ** rng.uniform(-9, -2) * rng.normal(size=(s, n))).astype(np.float32)
        w = rng.normal(size=(n, m)).astype(np.float32)
        w[rng.integers(n)] *= 1e-4  # a nearly disconnected unit: a near-null Laplacian direction
        v = bean_penalty(h, w, order=order).numpy()
        assert v >= 0, (trial, v)
