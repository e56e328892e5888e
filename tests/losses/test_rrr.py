"""RRR penalty: hand computations, second-order finite differences, λ conversions, bad input."""

import numpy as np
import pytest

from keras_egl._keras import keras, tf
from keras_egl.explain.gradients import input_gradients
from keras_egl.losses.rrr import (RightReasonsLoss, input_gradient_penalty, lambdas_from_reference,
                                  right_reasons_penalty, small_params_penalty)


def _tiny_mlp(dtype="float64", d=4, h=3, k=3, seed=0):
    rng = np.random.default_rng(seed)
    inp = keras.Input((d,), dtype=dtype)
    hid = keras.layers.Dense(h, activation="tanh", dtype=dtype)(inp)
    out = keras.layers.Dense(k, dtype=dtype)(hid)
    model = keras.Model(inp, out)
    model.set_weights([rng.normal(0, 0.7, w.shape) for w in model.get_weights()])
    return model


def _hand_grads(model, x):
    """∂/∂x Σ_k log softmax(z)_k for a 1-hidden-layer tanh MLP, in numpy."""
    W1, b1, W2, b2 = model.get_weights()
    h = np.tanh(x @ W1 + b1)
    z = h @ W2 + b2
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    k = z.shape[1]
    dz = 1.0 - k * p                      # ∂ Σ_k log p_k / ∂ z_j
    dpre = (dz @ W2.T) * (1.0 - h ** 2)
    return dpre @ W1.T


def test_penalty_equals_hand_computation_on_tiny_mlp():
    model = _tiny_mlp()
    rng = np.random.default_rng(1)
    x = rng.normal(size=(5, 4))
    A = (rng.random((5, 4)) < 0.5).astype(np.float64)
    g = _hand_grads(model, x)
    np.testing.assert_allclose(input_gradients(model, tf.constant(x)).numpy(), g, rtol=1e-10, atol=1e-12)
    hand_sum = np.sum((A * g) ** 2)
    got = input_gradient_penalty(model, tf.constant(x), A, lambda1=3.0, reduction="sum")
    np.testing.assert_allclose(float(got), 3.0 * hand_sum, rtol=1e-10)
    got_mean = input_gradient_penalty(model, tf.constant(x), A, lambda1=3.0, reduction="mean")
    np.testing.assert_allclose(float(got_mean), 3.0 * hand_sum / 5, rtol=1e-10)
    got_l1 = input_gradient_penalty(model, tf.constant(x), A, lambda1=1.0, norm="l1")
    np.testing.assert_allclose(float(got_l1), np.sum(np.abs(A * g)), rtol=1e-10)


def test_penalty_small_example_and_weights():
    g = tf.constant([[1.0, -2.0], [3.0, 4.0]])
    assert float(right_reasons_penalty([[0, 1], [1, 0]], g)) == pytest.approx(13.0)
    assert float(right_reasons_penalty([[0, 1], [1, 0]], g, reduction="mean")) == pytest.approx(6.5)
    assert float(right_reasons_penalty([[0, 1], [1, 0]], g, norm="l1")) == pytest.approx(5.0)
    # Non-binary A weights the gradient before squaring.
    assert float(right_reasons_penalty([[0, 0.5], [0.5, 0]], g)) == pytest.approx(13.0 / 4)
    # Bool masks are accepted.
    assert float(right_reasons_penalty(np.array([[False, True], [True, False]]), g)) == pytest.approx(13.0)


def test_second_order_gradient_matches_finite_differences():
    model = _tiny_mlp(seed=3)
    rng = np.random.default_rng(4)
    x = tf.constant(rng.normal(size=(6, 4)))
    A = tf.constant((rng.random((6, 4)) < 0.6).astype(np.float64))

    def penalty():
        return input_gradient_penalty(model, x, A, lambda1=1.0, reduction="sum")

    with tf.GradientTape() as tape:
        value = penalty()
    grads = tape.gradient(value, model.trainable_variables)
    assert all(g is not None for g in grads)
    eps = 1e-6
    for var, g in zip(model.trainable_variables, grads):
        flat = var.numpy().ravel()
        for i in range(0, flat.size, max(1, flat.size // 4)):  # a few entries per variable
            orig = flat.copy()
            plus, minus = orig.copy(), orig.copy()
            plus[i] += eps
            minus[i] -= eps
            var.assign(plus.reshape(var.shape))
            f_plus = float(penalty())
            var.assign(minus.reshape(var.shape))
            f_minus = float(penalty())
            var.assign(orig.reshape(var.shape))
            fd = (f_plus - f_minus) / (2 * eps)
            np.testing.assert_allclose(g.numpy().ravel()[i], fd, rtol=1e-5, atol=1e-8)


def test_second_order_gradient_relu_mlp_nonzero():
    # ReLU networks have non-zero mixed second derivatives ∂²/∂θ∂x (pitfall 4).
    inp = keras.Input((5,))
    out = keras.layers.Dense(3)(keras.layers.Dense(8, activation="relu")(inp))
    model = keras.Model(inp, out)
    x = tf.random.stateless_normal((4, 5), seed=(1, 2))
    with tf.GradientTape() as tape:
        value = input_gradient_penalty(model, x, tf.ones_like(x))
    grads = tape.gradient(value, model.trainable_variables)
    assert float(tf.add_n([tf.reduce_sum(tf.abs(g)) for g in grads])) > 0


def test_all_zero_annotation_is_exactly_zero_without_nan():
    model = _tiny_mlp()
    x = tf.constant(np.random.default_rng(0).normal(size=(3, 4)))
    with tf.GradientTape() as tape:
        value = input_gradient_penalty(model, x, tf.zeros_like(x), lambda1=1000.0)
    assert float(value) == 0.0
    grads = tape.gradient(value, model.trainable_variables)
    for g in grads:
        assert g is None or np.all(np.isfinite(g.numpy())) and np.all(g.numpy() == 0)


def test_sum_prob_penalty_is_zero_by_construction():
    model = _tiny_mlp()
    x = tf.constant(np.random.default_rng(0).normal(size=(3, 4)))
    val = input_gradient_penalty(model, x, tf.ones_like(x), target="sum_prob")
    assert float(val) < 1e-20
    assert float(input_gradient_penalty(model, x, tf.ones_like(x))) > 1e-6


def test_bad_input():
    model = _tiny_mlp("float32")
    x = tf.ones((2, 4))
    with pytest.raises(ValueError, match="shape"):
        input_gradient_penalty(model, x, tf.ones((2, 3)))
    with pytest.raises(ValueError, match="shape"):
        right_reasons_penalty(tf.ones((4,)), tf.ones((2, 4)))  # no broadcasting
    with pytest.raises(TypeError, match="floating"):
        input_gradient_penalty(model, tf.ones((2, 4), tf.int32), tf.ones((2, 4)))
    with pytest.raises(ValueError, match="lambda1"):
        input_gradient_penalty(model, x, tf.ones((2, 4)), lambda1=-1.0)
    with pytest.raises(ValueError, match="norm"):
        right_reasons_penalty(tf.ones((2, 4)), tf.ones((2, 4)), norm="l3")
    with pytest.raises(ValueError, match="reduction"):
        RightReasonsLoss(reduction="none")
    with pytest.raises(ValueError, match="lambda1"):
        RightReasonsLoss(lambda1=-0.1)


def test_keras_loss_matches_function_and_round_trips():
    rng = np.random.default_rng(0)
    A = (rng.random((4, 6)) < 0.5).astype(np.float32)
    g = rng.normal(size=(4, 6)).astype(np.float32)
    for red in ("sum", "mean"):
        loss = RightReasonsLoss(lambda1=2.5, reduction=red)
        want = 2.5 * float(right_reasons_penalty(A, g, reduction=red))
        assert float(loss(A, g)) == pytest.approx(want, rel=1e-5)
        clone = RightReasonsLoss.from_config(loss.get_config())
        assert clone.get_config() == loss.get_config()
        restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
        assert isinstance(restored, RightReasonsLoss)
        assert float(restored(A, g)) == pytest.approx(want, rel=1e-5)
    l1 = RightReasonsLoss(lambda1=1.0, norm="l1")
    assert float(l1(A, g)) == pytest.approx(float(np.abs(A * g).sum()), rel=1e-5)


def test_small_params_includes_biases():
    model = _tiny_mlp("float32")
    want = sum(float(np.sum(w.astype(np.float64) ** 2)) for w in model.get_weights())
    assert float(small_params_penalty(model)) == pytest.approx(want, rel=1e-5)
    kernels = sum(float(np.sum(w ** 2)) for w in model.get_weights()[::2])
    assert float(small_params_penalty(model, include_biases=False)) == pytest.approx(kernels, rel=1e-5)
    assert float(small_params_penalty(model, half=True)) == pytest.approx(want / 2, rel=1e-5)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("source", ["autograd", "tensorflow"])
def test_lambda_conversion_reproduces_reference_objective(reduction, source):
    """Reference objective / B == ours with the converted λ's."""
    model = _tiny_mlp("float64", seed=5)
    rng = np.random.default_rng(6)
    B = 7
    x = tf.constant(rng.normal(size=(B, 4)))
    y = rng.integers(0, 3, B)
    A = tf.constant((rng.random((B, 4)) < 0.5).astype(np.float64))
    lam1, lam2 = 1000.0, 1e-4
    logits = model(x)
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits).numpy()
    pen_sum = float(right_reasons_penalty(A, input_gradients(model, x), reduction="sum"))
    theta = float(small_params_penalty(model))
    if source == "autograd":
        reference = ce.sum() + lam1 * pen_sum + lam2 * theta
    else:  # tf.nn.l2_loss = ½ Σ x² on both terms
        reference = ce.sum() + lam1 * 0.5 * pen_sum + lam2 * 0.5 * theta
    l1, l2 = lambdas_from_reference(lam1, lam2, B, reduction=reduction, fidelity=source)
    pen = float(right_reasons_penalty(A, input_gradients(model, x), reduction=reduction))
    ours = ce.mean() + l1 * pen + l2 * theta
    np.testing.assert_allclose(ours, reference / B, rtol=1e-10)


def test_lambda_conversion_values_and_errors():
    assert lambdas_from_reference(1000.0, 1e-4, 256) == (1000.0, 1e-4 / 256)
    assert lambdas_from_reference(1000.0, 1e-4, 256, reduction="sum") == (1000.0 / 256, 1e-4 / 256)
    assert lambdas_from_reference(1000.0, 1e-3, 100, fidelity="tensorflow") == (500.0, 0.5e-3 / 100)
    with pytest.raises(ValueError, match="batch_size"):
        lambdas_from_reference(1.0, 1.0, 0)
    with pytest.raises(ValueError, match="lambda2"):
        lambdas_from_reference(1.0, -1.0, 10)
    with pytest.raises(ValueError, match="`fidelity`"):
        lambdas_from_reference(1.0, 1.0, 10, fidelity="torch")
    # `source=` is the deprecated former name of `fidelity=`.
    with pytest.warns(DeprecationWarning, match="source"):
        assert lambdas_from_reference(1000.0, 1e-3, 100, source="tensorflow") == (500.0, 0.5e-3 / 100)
    with pytest.raises(TypeError, match="source"):
        lambdas_from_reference(1.0, 1.0, 10, fidelity="autograd", source="autograd")


def test_function_sum_default_is_b_times_the_term_mean_default():
    """The documented λ convention: functions sum over the batch (reference), the term averages."""
    from keras_egl.models.base import ExplanationGuidedModel
    from keras_egl.terms.rrr import RightReasonsTerm

    model = _tiny_mlp("float32")
    rng = np.random.default_rng(7)
    B = 5
    x = tf.constant(rng.normal(size=(B, 4)).astype(np.float32))
    A = (rng.random((B, 4)) < 0.5).astype(np.float32)
    term = RightReasonsTerm(lambda1=3.0)
    assert term.reduction == "mean"
    egl = ExplanationGuidedModel(model, terms=[term])
    _, ctx = egl.forward({"x": x, "neg_mask": A})
    summed = input_gradient_penalty(model, x, A, lambda1=3.0)          # default reduction="sum"
    np.testing.assert_allclose(float(summed), B * float(term(ctx)), rtol=1e-5)
    assert float(RightReasonsLoss(lambda1=3.0)(A, input_gradients(model, x))) == pytest.approx(float(summed), rel=1e-5)
